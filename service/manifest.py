"""The model directory format: `model.joblib` plus `manifest.json` describing and vouching for it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

MODEL_NAME = "churn"  # the model's name: in every manifest and in the MLflow registry
MODEL_DIR = Path("models") / MODEL_NAME  # the served model directory, relative to the checkout
MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
SHA256 = r"^[0-9a-f]{64}$"


class Manifest(BaseModel):
    """What a model directory claims about its model; the loader checks every hash before serving."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str = Field(default=MODEL_NAME, description="Model name.")
    version: str = Field(min_length=1, description="Serving version; every prediction carries it.")
    model_file: str = Field(
        default=MODEL_FILE,
        # A bare file name: a manifest must not point the loader outside its own directory.
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$",
        description="The pickled pipeline, a file name inside the directory.",
    )
    model_sha256: str = Field(pattern=SHA256, description="SHA-256 of the model file.")
    profile_sha256: str = Field(pattern=SHA256, description="SHA-256 of the data profile it was trained against.")
    data_sha256: str = Field(pattern=SHA256, description="SHA-256 of the training data file.")
    features: tuple[str, ...] = Field(description="Input features, in model order.")
    threshold: float = Field(gt=0.0, lt=1.0, description="Probability at or above which prediction is 1.")
    estimator: str = Field(description="Estimator class of the final pipeline step.")
    metrics: dict[str, float] = Field(description="Metrics on the held-out split.")
    seed: int = Field(description="The seed every random operation in training used.")
    config: str = Field(description="The experiment config the model was trained from.")
    sklearn_version: str
    created_at: datetime
    mlflow_run_id: str | None = Field(default=None, description="MLflow run that trained the model.")
    numeric_environment: dict[str, str] = Field(
        default_factory=dict,
        description="CPU architecture, BLAS libraries and kernel, numeric package versions the model was trained "
        "with: the model file's exact bytes depend on them.",
    )
    # Optional: directories written before the reference existed still load (drift is then "not available").
    reference_file: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$", description="Training-split reference distribution."
    )
    reference_sha256: str | None = Field(default=None, pattern=SHA256, description="SHA-256 of the reference file.")
    # Optional too: without it the weekly command unpickles the model like the service does.
    encoder_file: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$", description="The pipeline's arithmetic as data."
    )
    encoder_sha256: str | None = Field(default=None, pattern=SHA256, description="SHA-256 of the encoder file.")

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def read_manifest(directory: Path) -> Manifest:
    return Manifest.model_validate_json((directory / MANIFEST_FILE).read_bytes())

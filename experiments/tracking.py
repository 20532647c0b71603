"""Logging one training run to MLflow: params, metrics, tags and artifacts, each from the objects used."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import mlflow
import numpy as np
from numpy.typing import NDArray

from experiments import numerics
from experiments.data import sha256_bytes
from experiments.logged_model import log_pipeline
from experiments.params import run_params
from experiments.plots import write_run_plots
from experiments.profile import build_profile
from experiments.provenance import provenance_tags
from experiments.store import Store, active_store
from experiments.train import TrainResult

CONFIG_STEM = "config"  # logged as config.toml / config.yaml, keeping the format of the file used
PROFILE_ARTIFACT = "data_profile.json"
PREDICTIONS_ARTIFACT = "predictions/test.csv"
PLOTS_DIR = "plots"


_PROFILES: dict[str, str] = {}


def data_profile_json(result: TrainResult) -> str:
    """The profile of the data used. The file's SHA-256 was verified on load, so it keys the profile exactly;
    cached because profiling costs more than training, and `compare` (or a test session) reuses the data."""
    sha256 = result.dataset.sha256
    if sha256 not in _PROFILES:
        _PROFILES[sha256] = build_profile(result.dataset).to_json()
    return _PROFILES[sha256]


def predictions_csv(result: TrainResult) -> str:
    """Test rows by dataset index with label and probability; repr() floats, so reading back is exact."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "churn", "probability"])
    for row, label, probability in zip(
        result.split.X_test.index, result.split.y_test, result.test_probabilities, strict=True
    ):
        writer.writerow([int(row), int(label), repr(float(probability))])
    return buffer.getvalue()


def read_predictions(text: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return (
        np.array([int(row["row"]) for row in rows], dtype=np.int64),
        np.array([float(row["probability"]) for row in rows], dtype=np.float64),
    )


def log_run(store: Store, result: TrainResult, config_text: str, config_path: Path, tags: dict[str, str]) -> str:
    """Log a finished training into a new run (nested under the active run, if any); returns its id."""
    config = result.config
    with active_store(store):
        run = mlflow.start_run(
            experiment_id=store.experiment_id(config.experiment),
            run_name=config.name or config_path.stem,
            nested=mlflow.active_run() is not None,
        )
        with run:
            mlflow.log_params(run_params(result))
            model = log_pipeline(result)
            # Linked to the logged model too, so MLflow 3's model pages show what it scored.
            mlflow.log_metrics(result.metrics, model_id=model.model_id)
            mlflow.set_tags(
                {
                    **provenance_tags(result.dataset.sha256),
                    **numerics.current().tags(),
                    "config.path": config_path.as_posix(),
                    "config.sha256": sha256_bytes(config_text.encode("utf-8")),
                    **tags,
                }
            )
            mlflow.log_text(config_text, f"{CONFIG_STEM}{config_path.suffix}")
            mlflow.log_text(data_profile_json(result), PROFILE_ARTIFACT)
            mlflow.log_text(predictions_csv(result), PREDICTIONS_ARTIFACT)
            with tempfile.TemporaryDirectory(prefix="churnguard-plots-") as scratch:
                write_run_plots(result.split.y_test, result.test_probabilities, Path(scratch))
                mlflow.log_artifacts(scratch, PLOTS_DIR)
        return str(run.info.run_id)

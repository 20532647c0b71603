"""The model inside an MLflow run: logged in skops format with a signature, found again, loaded safely.

skops, not pickle: loading a pickle from a shared tracking store would run whatever code it carries.
Loading trusts only the types below, never the allow-list stored beside the model in its MLmodel file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import skops.io
from mlflow import MlflowClient
from mlflow.entities import LoggedModel, Run
from mlflow.models import Model, ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema, TensorSpec
from sklearn.pipeline import Pipeline

from experiments.data import CATEGORICAL_FEATURES, FEATURES, INTEGER_FEATURES
from experiments.provenance import model_requirements
from experiments.store import Store, active_store
from experiments.train import TrainResult

MODEL_NAME = "model"
# Beyond skops' defaults, exactly what the allow-listed estimators contain. The tree types are trusted as
# skops documents: a crafted file could crash `predict` (unchecked node indices), not run code.
TRUSTED_TYPES = (
    "numpy.dtype",  # OneHotEncoder(dtype=np.float64)
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


class LoggedModelError(Exception):
    """The run has no loadable model of the expected kind."""


def signature() -> ModelSignature:
    """From the feature declarations, not inferred from a sample: the API's types, probabilities out."""

    def kind(name: str) -> str:
        if name in CATEGORICAL_FEATURES:
            return "string"
        return "long" if name in INTEGER_FEATURES else "double"

    return ModelSignature(
        inputs=Schema([ColSpec(kind(name), name) for name in FEATURES]),
        outputs=Schema([TensorSpec(np.dtype(np.float64), (-1, 2), "probabilities")]),
    )


def log_pipeline(result: TrainResult) -> ModelInfo:
    """Log the fitted pipeline into the active run."""
    example = result.split.X_test.dropna().head(3).reset_index(drop=True)
    info: ModelInfo = mlflow.sklearn.log_model(
        sk_model=result.pipeline,
        name=MODEL_NAME,
        signature=signature(),
        input_example=example,
        pip_requirements=model_requirements(),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=list(TRUSTED_TYPES),
        pyfunc_predict_fn="predict_proba",
    )
    return info


def find_logged_model(client: MlflowClient, run: Run) -> LoggedModel:
    found = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    models = [model for model in found if model.name == MODEL_NAME]
    if len(models) != 1:
        raise LoggedModelError(f"run {run.info.run_id} has {len(models)} logged models named {MODEL_NAME!r}, not 1")
    return models[0]


def load_logged_model(store: Store, model_uri: str) -> Pipeline:
    with tempfile.TemporaryDirectory(prefix="churnguard-model-") as scratch, active_store(store):
        local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=scratch, tracking_uri=store.uri))
        flavor = Model.load(local).flavors.get("sklearn", {})
        if flavor.get("serialization_format") != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS:
            raise LoggedModelError(f"{model_uri} is not a skops-format scikit-learn model; refusing to unpickle it")
        model = skops.io.load(local / flavor["pickled_model"], trusted=list(TRUSTED_TYPES))
    if not isinstance(model, Pipeline):
        raise LoggedModelError(f"{model_uri} holds a {type(model).__name__}, not a scikit-learn Pipeline")
    return model

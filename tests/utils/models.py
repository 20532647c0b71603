"""Real model directories for tests: retrained, failing and broken variants of the trained baseline."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from experiments.data import sha256_bytes
from experiments.model_dir import build_manifest, serialize_pipeline, write_model_dir
from experiments.train import TrainResult, train
from service.manifest import Manifest
from service.profile import sha256_file
from tests.utils.profile import PROFILE_PATH

EXPLOSION = "estimator exploded: secret-internal-detail-4711"


class ExplodingClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn ships no types
    """Loads and passes every check like a real estimator, then fails when asked to predict."""

    def fit(self, X: Any, y: Any) -> ExplodingClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: NDArray[Any]) -> NDArray[Any]:
        raise RuntimeError(EXPLOSION)


def retrained(result: TrainResult, **params: Any) -> TrainResult:
    """The same config with other estimator params, trained for real on the already loaded dataset."""
    config = result.config
    estimator = config.estimator.model_copy(update={"params": {**config.estimator.params, **params}})
    return train(config.model_copy(update={"estimator": estimator}), dataset=result.dataset)


def exploding(result: TrainResult) -> TrainResult:
    """The baseline's fitted preprocessing in front of an estimator that raises at predict time."""
    estimator = ExplodingClassifier().fit(None, result.split.y_train)
    pipeline = Pipeline([("preprocess", result.pipeline.steps[0][1]), ("model", estimator)])
    return dataclasses.replace(result, pipeline=pipeline)


def manifest_for(result: TrainResult, model_bytes: bytes, version: str, **overrides: Any) -> Manifest:
    """A manifest that vouches for `model_bytes` against the real profile, unless `overrides` say otherwise."""
    manifest = build_manifest(
        result,
        model_sha256=sha256_bytes(model_bytes),
        profile_sha256=sha256_file(PROFILE_PATH),
        version=version,
        run_id=None,
        numeric_environment={},
    )
    return manifest.model_copy(update=overrides)


def publish(result: TrainResult, target: Path, version: str) -> Manifest:
    """Promote a trained result into `target` atomically, under an explicit version."""
    model_bytes = serialize_pipeline(result)
    manifest = manifest_for(result, model_bytes, version)
    write_model_dir(target, model_bytes, manifest)
    return manifest


def publish_bytes(result: TrainResult, target: Path, model_bytes: bytes, version: str, **overrides: Any) -> Manifest:
    """Promote arbitrary bytes (garbage, another model) with a manifest vouching for them, atomically."""
    manifest = manifest_for(result, model_bytes, version, **overrides)
    write_model_dir(target, model_bytes, manifest)
    return manifest

"""Model material for the operations tests: real customers as API payloads, each model version's expected
answers, and a model that holds a prediction until a file appears (to have a request truly in flight in
another process)."""

from __future__ import annotations

import dataclasses
import io
import math
import os
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from experiments.data import FEATURES, ID
from experiments.train import TrainResult
from service.encoding import FastEncoder

HOLD_LIMIT_SECONDS = 60.0  # a held prediction never outlives a test that forgot to release it


def api_customers(result: TrainResult, count: int) -> list[dict[str, Any]]:
    """The first `count` held-out customers of the real data, as /predict bodies (with their customer_id)."""
    frame = result.dataset.frame.loc[result.split.X_test.index[:count]]
    rows: list[dict[str, Any]] = []
    for record in frame.to_dict(orient="records"):
        row = {name: record[name] for name in FEATURES}
        row = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        rows.append({**row, ID: record[ID]})
    return rows


def expected_probabilities(model_bytes: bytes, customers: list[dict[str, Any]]) -> list[float]:
    """What the service must answer for each customer when serving exactly these model bytes: the bytes loaded
    as the service loads them, scored through the same fast encoder."""
    encoder = FastEncoder.from_pipeline(joblib.load(io.BytesIO(model_bytes)))
    return [float(p) for p in encoder.predict_proba([{k: c[k] for k in FEATURES} for c in customers])]


class HoldingClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn ships no types
    """Touches `started` (and `started.PID`, naming the worker process) when asked to predict, then holds until
    `release` exists (at most HOLD_LIMIT_SECONDS).

    Pickled into a model directory and loaded by a real service process, so the test and the server share
    nothing but the file system."""

    def __init__(self, started: str = "", release: str = "") -> None:
        self.started = started
        self.release = release

    def fit(self, X: Any, y: Any) -> HoldingClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: NDArray[Any]) -> NDArray[Any]:
        Path(self.started).touch()
        Path(f"{self.started}.{os.getpid()}").touch()
        deadline = time.monotonic() + HOLD_LIMIT_SECONDS
        while not Path(self.release).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return np.tile([0.25, 0.75], (len(X), 1))


def holding(result: TrainResult, started: Path, release: Path) -> TrainResult:
    """The baseline's fitted preprocessing in front of a HoldingClassifier."""
    estimator = HoldingClassifier(str(started), str(release)).fit(None, result.split.y_train)
    pipeline = Pipeline([("preprocess", result.pipeline.steps[0][1]), ("model", estimator)])
    return dataclasses.replace(result, pipeline=pipeline)

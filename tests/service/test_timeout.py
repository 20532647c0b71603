"""A request that runs past CHURN_REQUEST_TIMEOUT_SECONDS answers 504 problem+json instead of hanging."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from experiments.model_dir import serialize_pipeline
from experiments.train import TrainResult
from service.settings import Settings
from testkit.customers import customer
from tests.utils.clients import client_with
from tests.utils.models import publish_bytes
from tests.utils.problems import assert_problem

RELEASE = threading.Event()  # module level: the pickled estimator refers to it by name


class BlockingClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn ships no types
    """Holds every prediction until the test releases it: a stand-in for a model that hangs."""

    def fit(self, X: Any, y: Any) -> BlockingClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: NDArray[Any]) -> NDArray[Any]:
        RELEASE.wait(timeout=30)
        return np.tile([0.5, 0.5], (len(X), 1))


def test_a_hanging_batch_answers_504_and_the_service_keeps_serving(
    settings: Settings, model_dir: Path, baseline_result: TrainResult
) -> None:
    pipeline = Pipeline(
        [("preprocess", baseline_result.pipeline.steps[0][1]), ("model", BlockingClassifier().fit(None, [0, 1]))]
    )
    publish_bytes(
        baseline_result, model_dir, serialize_pipeline(dataclasses.replace(baseline_result, pipeline=pipeline)), "9"
    )
    RELEASE.clear()
    try:
        with client_with(settings, request_timeout_seconds=0.3) as client:
            body = assert_problem(client.post("/predict/batch", json={"customers": [customer()]}), 504)
            assert "0.3 s" in body["detail"]
            assert client.get("/health/live").status_code == 200
    finally:
        RELEASE.set()

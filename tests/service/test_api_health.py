"""Liveness and readiness at startup: healthy with a good model; 503 with an actionable reason without one."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import pytest
from fastapi.testclient import TestClient

from experiments.train import TrainResult
from service.app import create_app
from service.manifest import MANIFEST_FILE, MODEL_FILE
from service.settings import Settings
from testkit.customers import customer
from tests.utils.models import publish_bytes
from tests.utils.problems import assert_problem

HEALTH_PATHS = ("/health", "/health/ready")


def test_a_good_model_is_ready(client: TestClient) -> None:
    version = client.get("/model").json()["version"]
    for path in HEALTH_PATHS:
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.json() == {"status": "healthy", "model_loaded": True, "model_version": version, "reason": None}
    assert client.get("/health/live").json() == {"status": "alive"}


def test_model_answers_with_the_manifest_on_disk(client: TestClient, model_dir: Path) -> None:
    answer = client.get("/model")
    assert answer.status_code == 200
    on_disk = json.loads((model_dir / MANIFEST_FILE).read_text())
    assert answer.json()["version"] == on_disk["version"]
    assert answer.json()["model_sha256"] == on_disk["model_sha256"]


def _remove_dir(model_dir: Path, result: TrainResult) -> None:
    shutil.rmtree(model_dir)


def _remove_manifest(model_dir: Path, result: TrainResult) -> None:
    (model_dir / MANIFEST_FILE).unlink()


def _invalid_manifest(model_dir: Path, result: TrainResult) -> None:
    (model_dir / MANIFEST_FILE).write_text('{"version": ""}')


def _remove_model(model_dir: Path, result: TrainResult) -> None:
    (model_dir / MODEL_FILE).unlink()


def _garbage_vouched_for(model_dir: Path, result: TrainResult) -> None:
    publish_bytes(result, model_dir, b"\x80\x04garbage, not a pickle", version="7")


def _bytes_not_matching_the_hash(model_dir: Path, result: TrainResult) -> None:
    (model_dir / MODEL_FILE).write_bytes((model_dir / MODEL_FILE).read_bytes() + b"\x00")


def _other_profile(model_dir: Path, result: TrainResult) -> None:
    publish_bytes(result, model_dir, (model_dir / MODEL_FILE).read_bytes(), version="7", profile_sha256="ab" * 32)


def _not_a_pipeline(model_dir: Path, result: TrainResult) -> None:
    buffer = io.BytesIO()
    joblib.dump({"weights": [1, 2, 3]}, buffer)
    publish_bytes(result, model_dir, buffer.getvalue(), version="7")


BREAKAGES: dict[str, tuple[Callable[[Path, TrainResult], None], tuple[str, ...]]] = {
    "no-directory": (_remove_dir, ("no model directory", "train and promote")),
    "no-manifest": (_remove_manifest, (MANIFEST_FILE, "missing")),
    "invalid-manifest": (_invalid_manifest, (MANIFEST_FILE, "invalid")),
    "no-model-file": (_remove_model, (MODEL_FILE, "missing", "restore")),
    "garbage-with-matching-hash": (_garbage_vouched_for, ("cannot be loaded",)),
    "bytes-not-matching-hash": (_bytes_not_matching_the_hash, ("SHA-256", "corrupt", "re-promote")),
    "other-profile": (_other_profile, ("another data profile", "retrain")),
    "not-a-pipeline": (_not_a_pipeline, ("dict", "not a scikit-learn Pipeline")),
}


@pytest.fixture(params=list(BREAKAGES))
def broken(
    request: pytest.FixtureRequest, settings: Settings, model_dir: Path, baseline_result: TrainResult
) -> Iterator[tuple[TestClient, tuple[str, ...]]]:
    """A service started on a model directory broken in one way, and the words its reason must contain."""
    breakage, words = BREAKAGES[request.param]
    breakage(model_dir, baseline_result)
    with TestClient(create_app(settings)) as client:
        yield client, words


def test_a_broken_model_leaves_the_service_alive_but_not_ready(broken: tuple[TestClient, tuple[str, ...]]) -> None:
    client, words = broken
    assert client.get("/health/live").status_code == 200
    for path in HEALTH_PATHS:
        answer = client.get(path)
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert body["status"] == "unhealthy"
        assert body["model_loaded"] is False
        assert body["model_version"] is None
        for word in words:
            assert word in body["reason"]
        # The open endpoint names files, never where they live or their hashes (those go to the log).
        assert "/" not in body["reason"]
        assert not re.search(r"[0-9a-f]{12}", body["reason"]), body["reason"]


def test_without_a_model_predictions_and_model_are_503(broken: tuple[TestClient, tuple[str, ...]]) -> None:
    client, words = broken
    for answer in (
        client.post("/predict", json=customer()),
        client.post("/predict/batch", json={"customers": [customer()]}),
        client.get("/model"),
    ):
        body = assert_problem(answer, 503)
        assert body["title"] == "Model Not Ready"
        assert words[0] in body["detail"]


def test_input_is_still_validated_without_a_model(broken: tuple[TestClient, tuple[str, ...]]) -> None:
    client, _ = broken
    assert_problem(client.post("/predict", json=customer(tenure=-1)), 422)

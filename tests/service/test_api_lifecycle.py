"""The model directory changing under a running service: deleted, restored, replaced, promoted, refused."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from experiments.model_dir import export_model_dir, serialize_pipeline
from experiments.train import TrainResult
from service.manifest import MODEL_FILE
from service.model_store import ModelStore
from service.settings import Settings
from testkit.customers import customer
from testkit.paths import PROFILE_PATH
from tests.utils.clients import client_with
from tests.utils.models import publish_bytes, retrained
from tests.utils.problems import assert_problem
from tests.utils.profile import PROFILE

ROW = customer()


@pytest.fixture(scope="module")
def stronger(baseline_result: TrainResult) -> TrainResult:
    """Another real model: same data and seed, stronger regularisation, so other bytes and probabilities."""
    return retrained(baseline_result, C=0.05)


def _store(client: TestClient) -> ModelStore:
    store: ModelStore = client.app.state.store  # type: ignore[attr-defined]
    return store


def _expected_probability(result: TrainResult) -> float:
    frame = pd.DataFrame([ROW])[list(PROFILE.features)]
    return float(result.pipeline.predict_proba(frame)[0, 1])


def _served_version(client: TestClient) -> str:
    """The one version every answer carries: /model, /predict, /predict/batch (top and rows)."""
    version = client.get("/model").json()["version"]
    single = client.post("/predict", json=ROW)
    assert single.status_code == 200, single.text
    batch = client.post("/predict/batch", json={"customers": [ROW, ROW]}).json()
    assert {single.json()["model_version"], batch["model_version"]} == {version}
    assert {p["model_version"] for p in batch["predictions"]} == {version}
    return str(version)


def _health(client: TestClient) -> dict[str, Any]:
    """/health and /health/ready agree; their status code agrees with the body."""
    answers = [client.get(path) for path in ("/health", "/health/ready")]
    body: dict[str, Any] = answers[0].json()
    assert answers[1].json() == body
    assert {answer.status_code for answer in answers} == {200 if body["status"] == "healthy" else 503}
    return body


def test_a_deleted_model_file_is_unhealthy_at_once_and_healthy_again_when_restored(
    client: TestClient, model_dir: Path
) -> None:
    version = _served_version(client)
    saved = (model_dir / MODEL_FILE).read_bytes()
    (model_dir / MODEL_FILE).unlink()

    health = _health(client)  # the very next request
    assert health["status"] == "unhealthy"
    assert health["model_loaded"] is True
    assert health["model_version"] == version
    assert "deleted" in health["reason"]
    assert "restore" in health["reason"]
    assert _served_version(client) == version  # the model in memory keeps answering
    assert client.get("/health/live").status_code == 200

    (model_dir / MODEL_FILE).write_bytes(saved)
    assert _health(client) == {"status": "healthy", "model_loaded": True, "model_version": version, "reason": None}
    assert _served_version(client) == version


def test_a_model_file_overwritten_in_place_is_unhealthy(client: TestClient, model_dir: Path) -> None:
    version = _served_version(client)
    (model_dir / MODEL_FILE).write_bytes(b"overwritten by mistake")
    health = _health(client)
    assert health["status"] == "unhealthy"
    assert health["model_loaded"] is True
    assert f"no longer model version {version}" in health["reason"]
    assert "SHA-256" in health["reason"]
    assert _served_version(client) == version


def _via_refresh(client: TestClient) -> None:
    assert _store(client).refresh() is True
    assert _store(client).refresh() is False  # nothing changed since: no second load


def _via_health(client: TestClient) -> None:
    client.get("/health")


@pytest.mark.parametrize("trigger", [_via_refresh, _via_health], ids=["refresh", "health"])
def test_a_promoted_model_is_served_without_restart(
    client: TestClient, model_dir: Path, stronger: TrainResult, baseline_result: TrainResult,
    trigger: Callable[[TestClient], None],
) -> None:  # fmt: skip
    before = client.post("/predict", json=ROW).json()
    assert before["probability"] == pytest.approx(_expected_probability(baseline_result), rel=1e-12)

    manifest = export_model_dir(stronger, model_dir, PROFILE_PATH)
    assert manifest.version != before["model_version"]
    trigger(client)

    assert _served_version(client) == manifest.version
    assert client.get("/model").json()["model_sha256"] == manifest.model_sha256
    after = client.post("/predict", json=ROW).json()
    assert after["probability"] == pytest.approx(_expected_probability(stronger), rel=1e-12)
    assert after["probability"] != pytest.approx(before["probability"], rel=1e-6)
    assert _health(client) == {
        "status": "healthy", "model_loaded": True, "model_version": manifest.version, "reason": None
    }  # fmt: skip


def _garbage(model_dir: Path, result: TrainResult) -> None:
    publish_bytes(result, model_dir, b"not a pickle at all", version="2")


def _other_profile(model_dir: Path, result: TrainResult) -> None:
    publish_bytes(result, model_dir, serialize_pipeline(result), version="2", profile_sha256="cd" * 32)


def _hash_mismatch(model_dir: Path, result: TrainResult) -> None:
    publish_bytes(result, model_dir, serialize_pipeline(result), version="2", model_sha256="ef" * 32)


def _same_model_other_profile(model_dir: Path, result: TrainResult) -> None:
    served = (model_dir / MODEL_FILE).read_bytes()  # the file on disk stays the served model: only the manifest lies
    publish_bytes(result, model_dir, served, version="2", profile_sha256="cd" * 32)


BAD_MODELS: dict[str, tuple[Callable[[Path, TrainResult], None], str]] = {
    "garbage": (_garbage, "cannot be loaded"),
    "other-profile": (_other_profile, "retrain against the current profile"),
    "hash-mismatch": (_hash_mismatch, "re-promote"),
    "same-model-other-profile": (_same_model_other_profile, "but the new model was refused"),
}


@pytest.mark.parametrize("bad", list(BAD_MODELS))
def test_a_bad_new_model_is_refused_and_the_old_keeps_serving(
    client: TestClient, model_dir: Path, stronger: TrainResult, bad: str
) -> None:
    version = _served_version(client)
    promote, words = BAD_MODELS[bad]
    promote(model_dir, stronger)
    assert _store(client).refresh() is False

    health = _health(client)
    assert health["status"] == "unhealthy"
    assert health["model_loaded"] is True
    assert health["model_version"] == version
    assert words in health["reason"]
    assert _served_version(client) == version

    # A good promotion afterwards clears the refusal.
    manifest = export_model_dir(stronger, model_dir, PROFILE_PATH)
    assert _health(client)["status"] == "healthy"
    assert _served_version(client) == manifest.version


def test_a_model_promoted_after_starting_without_one_is_served(
    settings: Settings, model_dir: Path, baseline_result: TrainResult
) -> None:
    shutil.rmtree(model_dir)
    with client_with(settings) as client:
        assert _health(client)["model_loaded"] is False
        assert_problem(client.post("/predict", json=ROW), 503)

        manifest = export_model_dir(baseline_result, model_dir, PROFILE_PATH)
        assert _health(client)["status"] == "healthy"
        assert _served_version(client) == manifest.version


class _Loaded(logging.Handler):
    """Sets an event when the store logs that it loaded a model: something to wait on instead of sleeping."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "model loaded":
            self.event.set()


def test_the_watcher_promotes_without_any_health_request(
    settings: Settings, model_dir: Path, stronger: TrainResult, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="churnguard.model")
    loaded = _Loaded()
    logging.getLogger("churnguard.model").addHandler(loaded)
    try:
        with client_with(settings, reload_interval_seconds=0.01) as client:
            assert loaded.event.wait(10), "the startup load was not logged"
            loaded.event.clear()
            manifest = export_model_dir(stronger, model_dir, PROFILE_PATH)
            assert loaded.event.wait(10), "the watcher did not load the promoted model within 10 s"
            # /model never reloads by itself: only the background watcher can have changed its answer.
            assert client.get("/model").json()["version"] == manifest.version
            assert _served_version(client) == manifest.version
    finally:
        logging.getLogger("churnguard.model").removeHandler(loaded)

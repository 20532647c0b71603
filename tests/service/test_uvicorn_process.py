"""The real thing: `python -m service` under uvicorn on 127.0.0.1, its model file deleted and restored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.manifest import MODEL_FILE
from testkit.client import fetch
from testkit.service import Service, launch


@pytest.fixture
def server(model_dir: Path, tmp_path: Path) -> Iterator[Service]:
    """A uvicorn process on a free loopback port, live or the test fails; always stopped afterwards."""
    # Only /health may reload: the test controls every change.
    with launch(tmp_path, ready="live", model_dir=model_dir, log_level="INFO", reload_interval_seconds=3600) as service:
        yield service


@pytest.mark.slow
def test_health_follows_the_model_file_in_a_real_process(server: Service, model_dir: Path) -> None:
    first = fetch(server.port, "GET", "/health")
    assert first.status == 200
    assert first.json()["status"] == "healthy"
    version = first.json()["model_version"]

    saved = (model_dir / MODEL_FILE).read_bytes()
    (model_dir / MODEL_FILE).unlink()
    answer = fetch(server.port, "GET", "/health")
    body = answer.json()
    assert answer.status == 503
    assert (body["status"], body["model_loaded"], body["model_version"]) == ("unhealthy", True, version)
    assert "deleted" in body["reason"]

    (model_dir / MODEL_FILE).write_bytes(saved)
    answer = fetch(server.port, "GET", "/health")
    assert answer.status == 200
    assert answer.json()["status"] == "healthy"

    # uvicorn shuts down gracefully on SIGTERM; a completed graceful shutdown exits 0.
    assert server.stop() == 0
    # Every log line is one JSON object; the three /health requests each left one access line.
    lines = [json.loads(line) for line in server.log().splitlines()]
    access = [line for line in lines if line["logger"] == "churnguard.access" and line["path"] == "/health"]
    assert [line["status"] for line in access] == [200, 503, 200]
    assert access[0]["request_id"] == first.headers["x-request-id"]
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # ours replaces uvicorn's
    messages = [line["message"] for line in lines]
    assert "service ready" in messages
    assert "Application shutdown complete." in messages

"""The real thing: `python -m service` under uvicorn on 127.0.0.1, its model file deleted and restored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.manifest import MODEL_FILE
from tests.utils.profile import PROFILE_PATH, ROOT
from verification.server import free_port

HOST = "127.0.0.1"
STARTUP_SECONDS = 20


def _get(url: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1 only
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), dict(error.headers)


@pytest.fixture
def server(model_dir: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A uvicorn process on a free loopback port, ready (live) or the test fails; always stopped afterwards."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHURN_")},
        "CHURN_HOST": HOST,
        "CHURN_PORT": str(port),
        "CHURN_MODEL_DIR": str(model_dir),
        "CHURN_DATA_PROFILE": str(PROFILE_PATH),
        "CHURN_LOG_LEVEL": "INFO",
        "CHURN_RELOAD_INTERVAL_SECONDS": "3600",  # only /health may reload: the test controls every change
    }
    stderr_path = tmp_path / "stderr.log"
    base = f"http://{HOST}:{port}"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, f"the service exited early:\n{stderr_path.read_text()}"
            try:
                if _get(f"{base}/health/live")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass  # not listening yet
            assert time.monotonic() < deadline, f"not live within {STARTUP_SECONDS} s:\n{stderr_path.read_text()}"
            time.sleep(0.1)
        yield base, process, stderr_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if shutdown hangs
            process.kill()
            process.wait(timeout=10)


@pytest.mark.slow
def test_health_follows_the_model_file_in_a_real_process(
    server: tuple[str, subprocess.Popen[bytes], Path], model_dir: Path
) -> None:
    base, process, stderr_path = server
    status, body, headers = _get(f"{base}/health")
    assert status == 200
    assert body["status"] == "healthy"
    version = body["model_version"]

    saved = (model_dir / MODEL_FILE).read_bytes()
    (model_dir / MODEL_FILE).unlink()
    status, body, _ = _get(f"{base}/health")
    assert status == 503
    assert (body["status"], body["model_loaded"], body["model_version"]) == ("unhealthy", True, version)
    assert "deleted" in body["reason"]

    (model_dir / MODEL_FILE).write_bytes(saved)
    status, body, _ = _get(f"{base}/health")
    assert status == 200
    assert body["status"] == "healthy"

    process.terminate()
    # uvicorn shuts down gracefully; a completed graceful shutdown exits 0.
    assert process.wait(timeout=10) == 0
    # Every stderr line is one JSON object; the three /health requests each left one access line.
    lines = [json.loads(line) for line in stderr_path.read_text().splitlines()]
    access = [line for line in lines if line["logger"] == "churnguard.access" and line["path"] == "/health"]
    assert [line["status"] for line in access] == [200, 503, 200]
    assert access[0]["request_id"] == headers["x-request-id"]
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # ours replaces uvicorn's
    messages = [line["message"] for line in lines]
    assert "service ready" in messages
    assert "Application shutdown complete." in messages

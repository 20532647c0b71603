"""The runs are visible to the team: a real `mlflow server` on the same store finds them over its REST API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from experiments.audit import audit_run
from experiments.compare import compare
from experiments.store import Store
from verification.server import free_port

MakeConfig = Callable[..., Path]

pytest_plugins = ["tests.exp_fixtures"]  # `store` (a private MLflow store per test) and `make_config`

STARTUP_SECONDS = 90
# Loopback only, and never through a proxy the environment may configure.
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(url: str, body: dict[str, Any] | None = None) -> Any:
    assert url.startswith("http://127.0.0.1:"), url
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback http, asserted above
    with LOOPBACK.open(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip().startswith(b"{") else raw.decode()


@contextmanager
def running_server(store: Store, tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 against `store`, polled until healthy, stopped (process group) after."""
    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # No background job workers (huey): not needed to serve runs, and they add ~5 s to startup.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    log = (tmp_path / "server.log").open("wb")
    command = [
        str(mlflow_cli), "server",
        "--backend-store-uri", store.uri,
        "--default-artifact-root", (tmp_path / "server-artifacts").as_uri(),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the teardown stops the server and its workers
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if _request(f"{url}/health") == "OK":
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"mlflow server not up in {STARTUP_SECONDS} s"
            time.sleep(0.25)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if the server ignores SIGTERM
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        log.close()


@pytest.mark.slow
def test_a_real_mlflow_server_finds_the_runs_through_its_rest_api(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    comparison = compare(store, make_config(), make_config("logreg_c01"), resamples=100)
    experiment_id = store.experiment_id("churn")
    with running_server(store, tmp_path) as url:
        found = _request(f"{url}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]})
        runs = {run["info"]["run_id"]: run for run in found["runs"]}
        assert set(runs) == {comparison.parent_run_id, comparison.baseline.run_id, comparison.variant.run_id}
        variant = runs[comparison.variant.run_id]
        params = {param["key"]: param["value"] for param in variant["data"]["params"]}
        tags = {tag["key"]: tag["value"] for tag in variant["data"]["tags"]}
        assert params["estimator.params.C"] == "0.1"
        assert tags["mlflow.parentRunId"] == comparison.parent_run_id
        assert tags["audit"] == "passed"

        # The audit works against a tracking server just as against the local file.
        assert audit_run(Store(url), comparison.variant.run_id).passed

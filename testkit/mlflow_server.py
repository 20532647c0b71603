"""A real `mlflow server` on a free loopback port against a given backend store, up when /health answers OK."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testkit.client import probe
from testkit.net import HOST, free_port
from testkit.process import Managed, clean_env, running, start

STARTUP_SECONDS = 90.0  # imports and database migrations: about 10 s on 2 busy cores
POLL_SECONDS = 0.25


@dataclass
class MlflowServer(Managed):
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextlib.contextmanager
def running_mlflow_server(backend_store_uri: str, work: Path) -> Iterator[MlflowServer]:
    """`mlflow server` (one worker) on `backend_store_uri`, artifacts under `work`; always stopped afterwards."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", backend_store_uri,
        "--default-artifact-root", (work / "server-artifacts").as_uri(),
        "--host", HOST, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = clean_env(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # No background job workers (huey): not needed to serve runs, and they add ~5 s to startup.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    )
    managed = start("mlflow server", command, log_path=work / "mlflow-server.log", env=env, cwd=work)
    server = MlflowServer(managed.name, managed.process, managed.log_path, port)

    def healthy() -> bool:
        answer = probe(port, "/health")
        return answer is not None and answer.status == 200 and answer.body.strip() == b"OK"

    with running(server, healthy, STARTUP_SECONDS, f"OK on /health at {HOST}:{port}", POLL_SECONDS):
        yield server

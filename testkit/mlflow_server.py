"""A real `mlflow server` on a free loopback port against a given backend store, up when /health answers OK."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
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


def mlflow_cli() -> str:
    return str(Path(sys.executable).with_name("mlflow"))


def start_mlflow_server(
    backend_store_uri: str,
    work: Path,
    *,
    artifacts_destination: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> MlflowServer:
    """`mlflow server` (one worker) on `backend_store_uri`; not waited for. Artifacts under `work`, or, with
    `artifacts_destination`, served by the server itself (`--serve-artifacts`, as a team server does)."""
    port = free_port()
    if artifacts_destination is None:
        artifacts = ["--default-artifact-root", (work / "server-artifacts").as_uri()]
    else:
        artifacts = ["--serve-artifacts", "--artifacts-destination", str(artifacts_destination)]
    command = [
        mlflow_cli(), "server", "--backend-store-uri", backend_store_uri, *artifacts,
        "--host", HOST, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    environment = clean_env(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # No background job workers (huey): not needed to serve runs, and they add ~5 s to startup.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            **(env or {}),
        }
    )
    managed = start("mlflow server", command, log_path=work / f"mlflow-server-{port}.log", env=environment, cwd=work)
    return MlflowServer(managed.name, managed.process, managed.log_path, port)


@contextlib.contextmanager
def serving(server: MlflowServer) -> Iterator[MlflowServer]:
    """`server`, once /health answers OK, for the block; always stopped afterwards."""

    def healthy() -> bool:
        answer = probe(server.port, "/health")
        return answer is not None and answer.status == 200 and answer.body.strip() == b"OK"

    with running(server, healthy, STARTUP_SECONDS, f"OK on /health at {HOST}:{server.port}", POLL_SECONDS):
        yield server


@contextlib.contextmanager
def running_mlflow_server(backend_store_uri: str, work: Path) -> Iterator[MlflowServer]:
    """`mlflow server` (one worker) on `backend_store_uri`, artifacts under `work`; always stopped afterwards."""
    with serving(start_mlflow_server(backend_store_uri, work)) as server:
        yield server

"""The team setup, for real: per module one throwaway PostgreSQL and one `mlflow server` in front of it (artifacts
served, in a temp destination); the experiment commands reach it only through MLFLOW_TRACKING_URI."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.utils.ops_processes import HOST, answers, stop, wait_for
from tests.utils.postgres import Postgres, running_postgres
from verification.server import free_port

STARTUP_SECONDS = 90.0  # imports and, on a fresh database, MLflow's schema migrations


@dataclass(frozen=True)
class TeamServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    artifacts: Path
    postgres: Postgres

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def client_env(url: str) -> dict[str, str]:
    """What an experimenter's shell has: the tracking URI, no telemetry."""
    return {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_DISABLE_TELEMETRY": "true"}


def mlflow_cli() -> str:
    return str(Path(sys.executable).with_name("mlflow"))


def upgrade_schema(postgres: Postgres) -> None:
    """`mlflow db upgrade`: MLflow's migrations, once, before any server starts (two servers starting on an empty
    database would both migrate it)."""
    env = {**os.environ, **postgres.client_env, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([mlflow_cli(), "db", "upgrade", postgres.uri()], env=env, capture_output=True, text=True,
                          timeout=STARTUP_SECONDS, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def start_team_server(postgres: Postgres, work: Path) -> TeamServer:
    """`mlflow server` on the cluster, serving artifacts from a temp destination; not waited for."""
    port = free_port()
    artifacts = work / "artifacts"
    command = [
        mlflow_cli(), "server",
        "--backend-store-uri", postgres.uri("psycopg2"),
        "--serve-artifacts", "--artifacts-destination", str(artifacts),
        "--host", HOST, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        **postgres.client_env,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # No background job workers (huey): not needed to serve runs, and they add seconds to startup.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    log_path = work / f"mlflow-server-{port}.log"
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends uvicorn's worker with it
        )  # fmt: skip
    return TeamServer(port, process, log_path, artifacts, postgres)


def wait_healthy(server: TeamServer) -> None:
    def healthy() -> bool:
        assert server.process.poll() is None, f"mlflow server exited with {server.process.returncode}:\n{server.log()}"
        answer = answers(server.port, "/health")
        return answer is not None and answer.status == 200 and answer.body.strip() == b"OK"

    wait_for(healthy, STARTUP_SECONDS, f"mlflow server on {HOST}:{server.port}", interval=0.25)


@contextlib.contextmanager
def running_team_servers(postgres: Postgres, work: Path, count: int) -> Iterator[list[TeamServer]]:
    """`count` servers on one migrated database, started side by side; always stopped afterwards."""
    upgrade_schema(postgres)
    servers: list[TeamServer] = []
    try:
        for _ in range(count):
            servers.append(start_team_server(postgres, work))
        for server in servers:
            wait_healthy(server)
        yield servers
    finally:
        for server in servers:
            stop(server.process)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def team_work() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="churnguard-team-") as work:
        yield Path(work)


@pytest.fixture(scope="module")
def team_servers(postgres: Postgres, team_work: Path) -> Iterator[list[TeamServer]]:
    """Two servers on one database: the team's, and a spare that a fault test may stop."""
    with running_team_servers(postgres, team_work, 2) as servers:
        yield servers


@pytest.fixture(scope="module")
def team_server(team_servers: list[TeamServer]) -> TeamServer:
    return team_servers[0]


@pytest.fixture(scope="module")
def spare_server(team_servers: list[TeamServer]) -> TeamServer:
    return team_servers[1]

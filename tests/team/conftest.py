"""The team setup, for real: per module one throwaway PostgreSQL and `mlflow server`s in front of it (artifacts
served, in a temp destination); the experiment commands reach it only through MLFLOW_TRACKING_URI."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.mlflow_server import STARTUP_SECONDS, MlflowServer, mlflow_cli, serving, start_mlflow_server
from testkit.postgres import Postgres, running_postgres
from testkit.process import clean_env
from tests.utils.mlflow_stores import make_config, store

__all__ = ["make_config", "store"]  # the MLflow store fixtures, scoped to this folder


def client_env(url: str) -> dict[str, str]:
    """What an experimenter's shell has: the tracking URI, no telemetry."""
    return clean_env({"MLFLOW_TRACKING_URI": url, "MLFLOW_DISABLE_TELEMETRY": "true"})


def upgrade_schema(postgres: Postgres) -> None:
    """`mlflow db upgrade`: MLflow's migrations, once, before any server starts (two servers starting on an empty
    database would both migrate it)."""
    env = clean_env({**postgres.client_env, "MLFLOW_DISABLE_TELEMETRY": "true"})
    done = subprocess.run([mlflow_cli(), "db", "upgrade", postgres.uri()], env=env, capture_output=True, text=True,
                          timeout=STARTUP_SECONDS, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def running_team_servers(postgres: Postgres, work: Path, count: int) -> Iterator[list[MlflowServer]]:
    """`count` servers on one migrated database, started side by side; always stopped afterwards."""
    upgrade_schema(postgres)
    with contextlib.ExitStack() as stack:
        started = []
        for _ in range(count):
            server = start_mlflow_server(
                postgres.uri("psycopg2"), work, artifacts_destination=work / "artifacts", env=postgres.client_env
            )
            stack.callback(server.stop)  # stopped even if another one fails to come up
            started.append(server)
        yield [stack.enter_context(serving(server)) for server in started]


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def team_work() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="churnguard-team-") as work:
        yield Path(work)


@pytest.fixture(scope="module")
def team_servers(postgres: Postgres, team_work: Path) -> Iterator[list[MlflowServer]]:
    """Two servers on one database: the team's, and a spare that a fault test may stop."""
    with running_team_servers(postgres, team_work, 2) as servers:
        yield servers


@pytest.fixture(scope="module")
def team_server(team_servers: list[MlflowServer]) -> MlflowServer:
    return team_servers[0]


@pytest.fixture(scope="module")
def spare_server(team_servers: list[MlflowServer]) -> MlflowServer:
    return team_servers[1]

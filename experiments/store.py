"""Which MLflow store runs go to, and scoped access to it.

Local default: `sqlite:///mlflow.db` (MLflow 3's own default) with artifacts in `mlartifacts/` beside it.
`MLFLOW_TRACKING_URI` (or `--tracking-uri`) points a whole team at a tracking server instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
ALREADY_EXISTS = ErrorCode.Name(RESOURCE_ALREADY_EXISTS)


def resolve_tracking_uri(explicit: str | None = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def default_artifact_root(tracking_uri: str) -> Path | None:
    """Beside a local SQLite file (`mlartifacts/`, as `mlflow server` does); a server picks its own."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return database.resolve().parent / "mlartifacts"


@dataclass(frozen=True)
class Store:
    """Where runs, artifacts and registered models go; the registry lives in the same store."""

    uri: str
    artifact_root: Path | None = None
    client: MlflowClient = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "client", MlflowClient(tracking_uri=self.uri, registry_uri=self.uri))

    @classmethod
    def at(cls, tracking_uri: str | None = None) -> Store:
        uri = resolve_tracking_uri(tracking_uri)
        return cls(uri, default_artifact_root(uri))

    def experiment_id(self, name: str) -> str:
        existing = self.client.get_experiment_by_name(name)
        return str(existing.experiment_id) if existing is not None else self.create_or_take(name)

    def create_or_take(self, name: str) -> str:
        """Create the experiment; if another experimenter has created it since we looked (two `run`s starting
        at once against a team server: seen in the concurrency test as PostgreSQL's unique violation, answered
        RESOURCE_ALREADY_EXISTS), theirs is the one."""
        location = None
        if self.artifact_root is not None:
            location = (self.artifact_root / re.sub(r"[^A-Za-z0-9_.-]", "_", name)).as_uri()
        try:
            return str(self.client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:
            created = self.client.get_experiment_by_name(name) if exc.error_code == ALREADY_EXISTS else None
            if created is None:
                raise
            return str(created.experiment_id)

    def read_artifact_text(self, run_id: str, path: str) -> str:
        with tempfile.TemporaryDirectory(prefix="churnguard-artifact-") as scratch:
            local = self.client.download_artifacts(run_id, path, dst_path=scratch)
            return Path(local).read_text(encoding="utf-8")


@contextmanager
def active_store(store: Store) -> Iterator[None]:
    """Point MLflow's fluent API at `store` (`log_model` and `models:/` URIs resolve through it), then back.

    MLflow's own helper restores an *unset* URI as unset (`set_tracking_uri(get_tracking_uri())` would pin
    the resolved value). But MLflow mirrors the URI into `MLFLOW_TRACKING_URI` and deletes that variable
    when restoring "unset", so the caller's environment is saved and put back here.
    """
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(store.uri):
            yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved

"""Is a run complete? A run whose process died, or lost the tracking server, midway stays RUNNING with only part
of what `run` logs. Such a half-logged run may be inspected, never promoted: this names what it lacks."""

from __future__ import annotations

from mlflow.entities import Run, RunStatus

from experiments.audit import CONFIG_SUFFIXES
from experiments.logged_model import MODEL_NAME, LoggedModelError, find_logged_model
from experiments.store import Store
from experiments.tracking import CONFIG_STEM


def missing_parts(store: Store, run: Run) -> list[str]:
    """What a complete run has and this one does not (empty: complete)."""
    missing = []
    status = run.info.status
    if status != RunStatus.to_string(RunStatus.FINISHED):
        missing.append(f"status is {status}, not FINISHED")
    artifacts = {item.path for item in store.client.list_artifacts(run.info.run_id)}
    if not artifacts & {f"{CONFIG_STEM}{suffix}" for suffix in CONFIG_SUFFIXES}:
        missing.append(f"no {CONFIG_STEM} file")
    try:
        find_logged_model(store.client, run)
    except LoggedModelError:
        missing.append(f"no logged model {MODEL_NAME!r}")
    if not run.data.metrics:
        missing.append("no metrics")
    return missing

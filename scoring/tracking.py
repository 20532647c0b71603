"""Lists and their outcomes as MLflow runs in the `churn-lists` experiment, beside the training runs.

Logged only when a tracking URI is configured (`--tracking-uri`, else `$MLFLOW_TRACKING_URI`; the service:
`CHURN_LIST_TRACKING_URI`): the directory archive is the record, and a weekly list is never withheld or
slowed by a tracking server. Everything logged is read from the archived files themselves.
Through `MlflowClient` only, never the fluent API: the service logs from worker threads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scoring.archive import Archived

LISTS_EXPERIMENT = "churn-lists"


def configured_uri(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or None


def numbers(prefix: str, data: dict[str, Any]) -> dict[str, float]:
    """Every finite number in `data` (nested), as `prefix.key.sub` metrics."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}".replace(" ", "_").replace("%", "pct")
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[name] = float(value)
        elif isinstance(value, dict):
            out.update(numbers(f"{name}.", value))
    return out


def log_run(uri: str, name: str, *, params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str],
            artifacts: list[Path]) -> dict[str, str]:  # fmt: skip
    """One finished run in `churn-lists`; answers where it went."""
    from mlflow.entities import Metric, Param  # noqa: PLC0415 - mlflow costs seconds to import

    from experiments.store import Store  # noqa: PLC0415 - imports mlflow

    store = Store.at(uri)
    client = store.client
    experiment = store.experiment_id(LISTS_EXPERIMENT)
    run = client.create_run(experiment, run_name=name, tags=tags)
    run_id = run.info.run_id
    try:
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, 0, 0) for key, value in sorted(metrics.items())],
            params=[Param(key, str(value)) for key, value in sorted(params.items())],
        )
        for path in artifacts:
            client.log_artifact(run_id, str(path))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return {"tracking_uri": uri, "experiment": LISTS_EXPERIMENT, "run_id": run_id}


def log_list(uri: str, archived: Archived) -> dict[str, str]:
    """One run per archived list: its week, role, model and input as params, its counts, bands, drift and
    shadow figures as metrics, and the archived files as artifacts."""
    record = archived.record
    summary = json.loads((archived.path / "summary.json").read_text(encoding="utf-8"))
    model = record["model"]
    params = {
        "week": record["week"], "role": record["role"], "source": record["source"],
        "model_version": model["version"], "model_sha256": model["model_sha256"],
        "input_sha256": record["input_sha256"], "threshold": model["threshold"],
        "selection.top": summary["selection"]["top"],
        "selection.min_probability": summary["selection"]["min_probability"],
    }  # fmt: skip
    metrics = {
        **numbers("rows.", summary["rows"]),
        "rejected_share": float(summary["rejected_share"]),
        **{f"band.{b['band']}.size".replace(" ", "_").replace("%", "pct"): float(b["size"]) for b in summary["bands"]},
    }
    drift = summary.get("drift", {})
    if drift.get("available"):
        metrics |= {f"psi.{name}": float(f["psi"]) for name, f in drift["features"].items()}
    shadow = summary.get("shadow", {})
    if shadow.get("available"):
        metrics |= {f"shadow.{k}": float(shadow[k]) for k in ("disagreement_rate", "mean_abs_delta", "p99_abs_delta")}
        metrics |= {f"shadow.jaccard.{t['cut']}".replace(" ", "_").replace("%", "pct"): t["jaccard"]
                    for t in shadow["top"]}  # fmt: skip
    tags = {
        "churn.week": record["week"], "churn.role": record["role"], "churn.model_version": model["version"],
        "churn.model_run_id": model["mlflow_run_id"] or "", "churn.archive_path": str(archived.path.resolve()),
    }  # fmt: skip
    name = f"{record['week']} {record['role']} v{model['version']}"
    files = [archived.path / "summary.json", archived.path / "archive.json", archived.path / "at_risk.csv"]
    return log_run(uri, name, params=params, metrics=metrics, tags=tags, artifacts=files)

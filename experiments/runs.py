"""One experiment run: train from a config, log everything to MLflow, then audit the run just logged."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from experiments.audit import AuditReport, audit_run
from experiments.config import parse_config
from experiments.data import Dataset
from experiments.store import Store
from experiments.tables import format_table
from experiments.tracking import log_run
from experiments.train import TrainResult, train

AUDIT_TAG = "audit"


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    result: TrainResult
    audit: AuditReport
    seconds: float  # wall time of train + log + audit

    def summary(self) -> str:
        config = self.result.config
        rows = [[name, f"{value:.4f}"] for name, value in self.result.metrics.items()]
        return "\n".join(
            [
                f"run {self.run_id}: experiment {config.experiment!r}, config {config.name!r}, seed {config.seed}, "
                f"{self.seconds:.1f} s (train + log + audit)",
                format_table(["metric (held-out)", "value"], rows),
                self.audit.verdict(),
            ]
        )


def run_config_text(
    store: Store, text: str, source: Path, dataset: Dataset | None = None, tags: dict[str, str] | None = None
) -> RunOutcome:
    """Run a config given as text; `source` is the file it came from (its suffix picks the format)."""
    started = time.perf_counter()
    config = parse_config(text, source.suffix)
    if dataset is not None and dataset.sha256 != config.data.sha256:
        raise ValueError(f"the dataset passed in is not {config.data.path} ({config.data.sha256})")
    result = train(config, dataset)
    run_id = log_run(store, result, text, source, tags or {})
    report = audit_run(store, run_id)
    store.client.set_tag(run_id, AUDIT_TAG, "passed" if report.passed else "failed")
    return RunOutcome(run_id, result, report, time.perf_counter() - started)


def run_experiment(
    store: Store, config_path: Path, dataset: Dataset | None = None, tags: dict[str, str] | None = None
) -> RunOutcome:
    return run_config_text(store, config_path.read_text(encoding="utf-8"), config_path, dataset, tags)

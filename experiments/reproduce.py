"""Reproduce a run: re-run its logged config as a new run; pass only on exactly equal metrics and predictions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.audit import read_logged_config
from experiments.runs import RunOutcome, run_config_text
from experiments.store import Store
from experiments.tables import format_table
from experiments.tracking import PREDICTIONS_ARTIFACT, read_predictions


@dataclass(frozen=True)
class Reproduction:
    original_run_id: str
    original_metrics: dict[str, float]
    rerun: RunOutcome
    same_rows: bool
    identical_predictions: int  # test rows whose probability is bit-for-bit the original's
    rows: int

    @property
    def metrics_equal(self) -> bool:
        return self.original_metrics == self.rerun.result.metrics

    @property
    def passed(self) -> bool:
        predictions_equal = self.same_rows and self.identical_predictions == self.rows
        return self.metrics_equal and predictions_equal and self.rerun.audit.passed

    def table(self) -> str:
        new = self.rerun.result.metrics
        names = [*new, *(name for name in self.original_metrics if name not in new)]
        rows = [
            [
                name,
                repr(self.original_metrics.get(name)),
                repr(new.get(name)),
                "yes" if self.original_metrics.get(name) == new.get(name) else "NO",
            ]
            for name in names
        ]
        verdict = "PASSED" if self.passed else "FAILED"
        return "\n".join(
            [
                f"original run {self.original_run_id} vs reproduction run {self.rerun.run_id}",
                format_table(["metric", "original", "reproduced", "equal"], rows),
                f"test rows: {'the same' if self.same_rows else 'DIFFERENT'}; predictions identical on "
                f"{self.identical_predictions}/{self.rows} rows",
                self.rerun.audit.verdict(),
                f"reproduction: {verdict}",
            ]
        )


def reproduce(store: Store, run_id: str) -> Reproduction:
    original = store.client.get_run(run_id)
    text, suffix = read_logged_config(store, run_id)
    source = Path(original.data.tags.get("config.path", f"config{suffix}"))
    rerun = run_config_text(store, text, source, tags={"reproduces": run_id})
    rows, probabilities = read_predictions(store.read_artifact_text(run_id, PREDICTIONS_ARTIFACT))
    new_rows, new_probabilities = read_predictions(store.read_artifact_text(rerun.run_id, PREDICTIONS_ARTIFACT))
    same_rows = bool(np.array_equal(rows, new_rows))
    identical = int((probabilities == new_probabilities).sum()) if same_rows else 0
    return Reproduction(run_id, dict(original.data.metrics), rerun, same_rows, identical, len(rows))

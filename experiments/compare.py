"""A controlled comparison: two configs that differ in exactly the declared factor, run on the same split
and seed under one parent run, with a paired-bootstrap interval for the ROC AUC difference."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow

from experiments.bootstrap import Interval, paired_auc_difference
from experiments.config import ExperimentConfig, load_config
from experiments.data import load_dataset
from experiments.params import settings_diff
from experiments.plots import write_comparison_plot
from experiments.runs import RunOutcome, run_experiment
from experiments.store import Store, active_store
from experiments.tables import format_table

LOWER_IS_BETTER = frozenset({"brier", "log_loss"})
COMPARISON_PLOT = "comparison.png"
COMPARISON_TABLE = "comparison.txt"


class UncontrolledComparison(Exception):
    """The two configs differ in more, or other, than the variant's declared factor."""


def _covers(setting: str, key: str) -> bool:
    return key == setting or key.startswith(f"{setting}.")


def check_controlled(baseline: ExperimentConfig, variant: ExperimentConfig) -> dict[str, tuple[str | None, str | None]]:
    """The differing settings, if and only if they are exactly what the variant declares as its factor."""
    if not variant.factor:
        raise UncontrolledComparison(f"{variant.name} declares no factor: list the settings it varies in `factor`")
    differences = settings_diff(baseline, variant)
    problems = [
        f"{key} differs ({ours} vs {theirs}) but is not in the declared factor"
        for key, (ours, theirs) in differences.items()
        if not any(_covers(setting, key) for setting in variant.factor)
    ]
    problems += [
        f"factor {setting} is declared but the configs agree on it"
        for setting in variant.factor
        if not any(_covers(setting, key) for key in differences)
    ]
    if problems:
        raise UncontrolledComparison("not a controlled experiment: " + "; ".join(problems))
    return differences


@dataclass(frozen=True)
class Comparison:
    parent_run_id: str
    baseline: RunOutcome
    variant: RunOutcome
    differences: dict[str, tuple[str | None, str | None]]
    interval: Interval

    def table(self) -> str:
        base, var = self.baseline.result, self.variant.result
        settings = format_table(
            ["setting (the declared factor)", str(base.config.name), str(var.config.name)],
            [[key, ours or "(unset)", theirs or "(unset)"] for key, (ours, theirs) in self.differences.items()],
        )
        rows = []
        for name, ours in base.metrics.items():
            theirs = var.metrics[name]
            variant_better = (theirs < ours) == (name in LOWER_IS_BETTER)
            better = "=" if theirs == ours else ("variant" if variant_better else "baseline")
            rows.append([name, f"{ours:.4f}", f"{theirs:.4f}", f"{theirs - ours:+.4f}", better])
        metrics = format_table(["metric (same test rows)", "baseline", "variant", "delta", "better"], rows)
        ci = self.interval
        verdict = (
            "the interval excludes 0: the difference is unlikely to be noise"
            if ci.excludes_zero
            else "the interval includes 0: no evidence of a real difference"
        )
        return "\n".join(
            [
                f"parent run {self.parent_run_id}: baseline run {self.baseline.run_id}, "
                f"variant run {self.variant.run_id}",
                settings,
                "",
                metrics,
                "",
                f"ROC AUC difference (variant - baseline): {ci.estimate:+.4f}, {ci.level:.0%} interval "
                f"[{ci.low:+.4f}, {ci.high:+.4f}] from a paired bootstrap ({ci.resamples} resamples of the same "
                f"{len(base.split.y_test)} test rows, seed {base.config.seed}); {verdict}",
            ]
        )


def compare(store: Store, baseline_path: Path, variant_path: Path, resamples: int = 1000) -> Comparison:
    baseline, variant = load_config(baseline_path), load_config(variant_path)
    differences = check_controlled(baseline, variant)  # refuses before anything is logged
    dataset = load_dataset(baseline.data.path, baseline.data.sha256)  # one load: both arms see the same bytes
    with active_store(store):
        parent = mlflow.start_run(
            experiment_id=store.experiment_id(baseline.experiment),
            run_name=f"compare {baseline.name} vs {variant.name}",
        )
        with parent:
            ours = run_experiment(store, baseline_path, dataset, tags={"compare.role": "baseline"})
            theirs = run_experiment(store, variant_path, dataset, tags={"compare.role": "variant"})
            # A guard for the pairing; unreachable while seed, split and data cannot be factors.
            if not ours.result.split.X_test.index.equals(theirs.result.split.X_test.index):  # pragma: no cover
                raise UncontrolledComparison("the two runs were scored on different test rows")
            y_test = ours.result.split.y_test
            interval = paired_auc_difference(
                y_test,
                ours.result.test_probabilities,
                theirs.result.test_probabilities,
                seed=baseline.seed,
                resamples=resamples,
            )
            comparison = Comparison(parent.info.run_id, ours, theirs, differences, interval)
            _log_parent(comparison)
    return comparison


def _log_parent(comparison: Comparison) -> None:
    base, var = comparison.baseline.result, comparison.variant.result
    ci = comparison.interval
    mlflow.log_params(
        {
            "factor": ", ".join(var.config.factor),
            "bootstrap.resamples": ci.resamples,
            "bootstrap.level": ci.level,
            "bootstrap.seed": base.config.seed,
            **{f"diff.{key}": f"{ours} -> {theirs}" for key, (ours, theirs) in comparison.differences.items()},
        }
    )
    mlflow.log_metrics(
        {
            **{f"delta.{name}": var.metrics[name] - base.metrics[name] for name in base.metrics},
            "roc_auc_diff.estimate": ci.estimate,
            "roc_auc_diff.low": ci.low,
            "roc_auc_diff.high": ci.high,
        }
    )
    mlflow.set_tags({"baseline_run_id": comparison.baseline.run_id, "variant_run_id": comparison.variant.run_id})
    mlflow.log_text(comparison.table() + "\n", COMPARISON_TABLE)
    with tempfile.TemporaryDirectory(prefix="churnguard-compare-") as scratch:
        labels = (f"{base.config.name or 'baseline'} (baseline)", f"{var.config.name or 'variant'} (variant)")
        path = write_comparison_plot(
            base.split.y_test,
            dict(zip(labels, (base.test_probabilities, var.test_probabilities), strict=True)),
            dict(zip(labels, (base.metrics, var.metrics), strict=True)),
            Path(scratch) / COMPARISON_PLOT,
        )
        mlflow.log_artifact(str(path))

"""`compare`: only a controlled experiment is run; both arms share split and seed under one parent run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.compare import COMPARISON_PLOT, COMPARISON_TABLE, UncontrolledComparison, check_controlled, compare
from experiments.config import load_config
from experiments.store import Store
from testkit.paths import ROOT

MakeConfig = Callable[..., Path]
CONFIGS = ROOT / "experiments" / "configs"


def test_the_shipped_variants_differ_from_the_baseline_in_exactly_their_factor() -> None:
    baseline = load_config(CONFIGS / "baseline.toml")
    assert check_controlled(baseline, load_config(CONFIGS / "logreg_c01.toml")) == {
        "estimator.params.C": ("1.0", "0.1")
    }
    assert set(check_controlled(baseline, load_config(CONFIGS / "hist_gbm.toml"))) == {
        "estimator.name", "estimator.params.C", "estimator.params.max_iter", "estimator.params.learning_rate",
        "estimator.params.max_leaf_nodes", "estimator.params.min_samples_leaf", "estimator.params.l2_regularization",
    }  # fmt: skip


def test_a_difference_outside_the_factor_is_refused(make_config: MakeConfig, tmp_path: Path) -> None:
    baseline = load_config(make_config())
    variant = load_config(make_config("logreg_c01", seed="7", max_iter="500"))
    with pytest.raises(UncontrolledComparison) as caught:
        check_controlled(baseline, variant)
    assert str(caught.value) == (
        "not a controlled experiment: estimator.params.max_iter differs (1000 vs 500) but is not in the declared "
        "factor; seed differs (42 vs 7) but is not in the declared factor"
    )


def test_a_declared_factor_the_configs_agree_on_is_refused(make_config: MakeConfig, tmp_path: Path) -> None:
    baseline = load_config(make_config())
    variant = load_config(make_config("logreg_c01", C="1.0"))
    with pytest.raises(UncontrolledComparison, match=r"factor estimator\.params\.C is declared but the configs agree"):
        check_controlled(baseline, variant)


def test_a_variant_without_a_factor_is_refused(make_config: MakeConfig, tmp_path: Path) -> None:
    baseline = load_config(make_config())
    with pytest.raises(UncontrolledComparison, match="declares no factor"):
        check_controlled(baseline, baseline)


def test_compare_runs_both_arms_on_the_same_rows_under_one_parent(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    comparison = compare(store, make_config(), make_config("logreg_c01"), resamples=200)
    base, var = comparison.baseline, comparison.variant
    assert base.audit.passed
    assert var.audit.passed
    assert base.result.split.X_test.index.equals(var.result.split.X_test.index)
    assert comparison.differences == {"estimator.params.C": ("1.0", "0.1")}
    for outcome, role in ((base, "baseline"), (var, "variant")):
        tags = store.client.get_run(outcome.run_id).data.tags
        assert tags["mlflow.parentRunId"] == comparison.parent_run_id
        assert tags["compare.role"] == role

    parent = store.client.get_run(comparison.parent_run_id)
    assert parent.data.params["diff.estimator.params.C"] == "1.0 -> 0.1"
    assert parent.data.params["factor"] == "estimator.params.C"
    assert parent.data.metrics["delta.roc_auc"] == var.result.metrics["roc_auc"] - base.result.metrics["roc_auc"]
    assert parent.data.metrics["roc_auc_diff.low"] == comparison.interval.low
    artifacts = {item.path for item in store.client.list_artifacts(comparison.parent_run_id)}
    assert artifacts == {COMPARISON_PLOT, COMPARISON_TABLE}
    plot = store.client.download_artifacts(comparison.parent_run_id, COMPARISON_PLOT, dst_path=str(tmp_path))
    assert Path(plot).read_bytes().startswith(b"\x89PNG")
    assert store.read_artifact_text(comparison.parent_run_id, COMPARISON_TABLE) == comparison.table() + "\n"

    table = comparison.table()
    assert "estimator.params.C" in table
    assert "roc_auc" in table
    assert "recall_top10" in table
    assert "delta" in table
    assert f"[{comparison.interval.low:+.4f}, {comparison.interval.high:+.4f}]" in table
    assert "200 resamples of the same 1409 test rows, seed 42" in table


def test_the_cli_prints_the_side_by_side_table_or_the_refusal(
    make_config: MakeConfig, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = str(make_config())
    uncontrolled = str(make_config("logreg_c01", threshold="0.4"))
    assert main(["compare", baseline, uncontrolled, "--tracking-uri", store.uri]) == 1
    assert "refused: not a controlled experiment: threshold differs (0.5 vs 0.4)" in capsys.readouterr().out
    assert store.client.search_runs([store.experiment_id("churn")]) == []  # refused before anything ran

    variant = str(make_config("hist_gbm", max_iter="30"))  # fewer trees: a faster test
    assert main(["compare", baseline, variant, "--resamples", "100", "--tracking-uri", store.uri]) == 0
    out = capsys.readouterr().out
    assert "HistGradientBoostingClassifier" in out
    assert "ROC AUC difference (variant - baseline)" in out
    assert out.count("PASSED") == 2

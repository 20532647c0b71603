"""Sabotage proofs for the audit check. It runs in this process, so each fault is planted by monkeypatching the
code that would hold it: a metric logged as a typed-in number, a param logged as a literal, and an audit that
stopped comparing (the check's own planted faults must then fail it). Plus the config copies it runs on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest

import experiments.audit
import experiments.tracking
from experiments.config import load_config
from experiments.params import run_params
from experiments.train import TrainResult
from testkit.paths import BASELINE_CONFIG, ROOT
from verification.audit import check_audit
from verification.configs import config_copy


def test_the_committed_experiments_pass_and_report_what_was_audited() -> None:
    result = check_audit()
    assert result.passed, result.failures
    evidence = result.evidence
    assert evidence["metrics_audited"] == 10
    assert evidence["params_audited"] == evidence["config_params_audited"] + evidence["model_params_audited"]
    assert evidence["config_params_audited"] > 0
    assert evidence["model_params_audited"] > 0
    assert evidence["planted_metric"]["audit"][0].startswith("metric roc_auc was logged as 0.99, recomputed 0.84")
    assert evidence["planted_param"]["audit"] == [
        "param estimator.params.C was logged as '0.1', the logged config says '1.0'"
    ]


def test_a_hard_coded_logged_metric_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run logs a number typed into the code instead of the metric it computed."""
    log_metrics = mlflow.log_metrics

    def hard_coded(metrics: dict[str, float], **kwargs: Any) -> Any:
        return log_metrics({**metrics, "recall_top10": 0.35}, **kwargs)

    monkeypatch.setattr(mlflow, "log_metrics", hard_coded)
    result = check_audit()
    assert not result.passed
    prefix = "the honest baseline run failed its audit: metric recall_top10 was logged as 0.35, recomputed "
    assert any(failure.startswith(prefix) for failure in result.failures), result.failures


def test_a_param_logged_from_a_literal_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def sloppy(result: TrainResult) -> dict[str, str]:
        return {**run_params(result), "split.test_size": "0.25"}  # the planted literal

    monkeypatch.setattr(experiments.tracking, "run_params", sloppy)
    result = check_audit()
    assert not result.passed
    assert (
        "the honest baseline run failed its audit: param split.test_size was logged as '0.25', the logged config "
        "says '0.2'" in result.failures
    ), result.failures


def test_an_audit_that_stopped_comparing_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blind audit passes the honest run too; only the check's own planted faults can tell."""
    monkeypatch.setattr(experiments.audit, "_metrics", lambda store, run, recomputed: [])
    monkeypatch.setattr(experiments.audit, "_compare", lambda what, logged, expected, source: [])
    result = check_audit()
    assert not result.passed
    assert [failure.split(": no mismatch")[0] for failure in result.failures] == [
        "the audit did not catch metric roc_auc overwritten with 0.99 after the run",
        "the audit did not catch param estimator.params.C logged as the literal '0.1'",
    ]


def test_a_config_copy_changes_only_the_data_path_and_the_seed(tmp_path: Path) -> None:
    copy = config_copy(BASELINE_CONFIG, tmp_path, data_root=ROOT, seed=43)
    original, copied = load_config(BASELINE_CONFIG), load_config(copy)
    assert copied.data.path == ROOT / original.data.path
    assert copied.seed == 43
    assert copied.model_copy(update={"data": original.data, "seed": original.seed}) == original
    changed = set(copy.read_text().splitlines()) ^ set(BASELINE_CONFIG.read_text().splitlines())
    assert len(changed) == 4  # two lines out, two in


def test_a_config_that_cannot_be_copied_line_by_line_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    text = BASELINE_CONFIG.read_text(encoding="utf-8")
    quoted = text.replace("seed = 42", '"seed" = 42')  # valid TOML, but no `seed = ` line to edit
    (source / "absent.toml").write_text(quoted, encoding="utf-8")
    with pytest.raises(ValueError, match=r"expected one `seed = \.\.\.` line in the config, found 0"):
        config_copy(source / "absent.toml", tmp_path, seed=43)
    # A line of a multi-line description looks like the seed: editing it would change the description instead.
    description = 'description = "The model the service serves today."'
    lookalike = quoted.replace(description, 'description = """\nseed = 7\n"""')
    (source / "lookalike.toml").write_text(lookalike, encoding="utf-8")
    with pytest.raises(ValueError, match="changed more than the data path and seed"):
        config_copy(source / "lookalike.toml", tmp_path, seed=43)
    with pytest.raises(ValueError, match="only TOML configs"):
        config_copy(tmp_path / "config.yaml", tmp_path)

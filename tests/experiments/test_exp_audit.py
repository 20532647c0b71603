"""The audit catches what it exists to catch: literals logged instead of the config, metrics overwritten after
the fact, a config edited after the run, a data hash that is not the file's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import experiments.pipeline
import experiments.tracking
from experiments.audit import audit_run
from experiments.cli import main
from experiments.params import run_params
from experiments.runs import run_experiment
from experiments.store import Store
from experiments.train import TrainResult
from testkit.paths import ROOT

MakeConfig = Callable[..., Path]


def test_an_honest_run_passes_its_audit(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    outcome = run_experiment(store, make_config(C="0.5"))
    assert outcome.audit.passed, outcome.audit.verdict()
    assert outcome.audit.mismatches == ()
    assert outcome.audit.result is not None
    assert outcome.audit.result.metrics == outcome.result.metrics
    assert store.client.get_run(outcome.run_id).data.tags["audit"] == "passed"


def test_a_param_logged_from_a_literal_instead_of_the_config_is_caught(
    make_config: MakeConfig, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sloppy_params(result: TrainResult) -> dict[str, str]:
        return {**run_params(result), "estimator.params.C": "1.0"}  # the planted literal

    monkeypatch.setattr(experiments.tracking, "run_params", sloppy_params)
    outcome = run_experiment(store, make_config(C="0.5"))
    assert not outcome.audit.passed
    assert outcome.audit.mismatches == ("param estimator.params.C was logged as '1.0', the logged config says '0.5'",)
    assert store.client.get_run(outcome.run_id).data.tags["audit"] == "failed"


def test_a_setting_left_unlogged_and_a_param_from_nowhere_are_both_caught(
    make_config: MakeConfig, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def partial_params(result: TrainResult) -> dict[str, str]:
        params = run_params(result)
        del params["split.test_size"]
        return {**params, "learning_rate": "0.1"}

    monkeypatch.setattr(experiments.tracking, "run_params", partial_params)
    mismatches = run_experiment(store, make_config()).audit.mismatches
    assert "the logged config has split.test_size = '0.2', but it was not logged as a param" in mismatches
    assert "param learning_rate = '0.1' was logged, but the logged config has no such setting" in mismatches


def test_a_hyperparameter_hard_coded_in_the_training_code_is_caught(
    make_config: MakeConfig, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code ignores the config's C: params and model agree with themselves, but not with the config."""
    build = experiments.pipeline.build_estimator

    def hard_coded(config):  # type: ignore[no-untyped-def]
        estimator = build(config)
        estimator.set_params(C=1.0)
        return estimator

    monkeypatch.setattr(experiments.pipeline, "build_estimator", hard_coded)
    mismatches = run_experiment(store, make_config(C="0.5")).audit.mismatches
    assert mismatches == ("the logged model has model.C = '1.0', the config asks for '0.5'",)


def test_a_metric_overwritten_after_the_fact_is_caught(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    outcome = run_experiment(store, make_config())
    true_auc = outcome.result.metrics["roc_auc"]
    store.client.log_metric(outcome.run_id, "roc_auc", 0.99)
    report = audit_run(store, outcome.run_id)
    assert not report.passed
    assert report.mismatches == (
        f"metric roc_auc was logged as 0.99, recomputed {true_auc!r}",
        f"metric roc_auc was logged 2 times ({true_auc!r}, 0.99); a run logs it once",
    )


def test_a_config_edited_after_the_run_is_caught(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    outcome = run_experiment(store, make_config(C="0.5"))
    edited = tmp_path / "edited" / "config.toml"
    edited.parent.mkdir()
    edited.write_text(store.read_artifact_text(outcome.run_id, "config.toml").replace("C = 0.5", "C = 2.0"))
    store.client.log_artifact(outcome.run_id, str(edited))  # overwrites the logged config.toml
    report = audit_run(store, outcome.run_id)
    assert not report.passed
    assert report.mismatches[0].startswith("the logged config.toml has SHA-256 ")
    assert report.mismatches[0].endswith("it was edited after the run")
    assert "param estimator.params.C was logged as '0.5', the logged config says '2.0'" in report.mismatches
    assert "the logged model has model.C = '0.5', the config asks for '2.0'" in report.mismatches


def test_a_data_hash_that_is_not_the_files_is_caught(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    outcome = run_experiment(store, make_config())
    store.client.set_tag(outcome.run_id, "data.sha256", "0" * 64)
    (mismatch,) = audit_run(store, outcome.run_id).mismatches
    assert mismatch.startswith(f"tag data.sha256 is {'0' * 64}, ")
    assert mismatch.endswith(outcome.result.dataset.sha256)


def test_a_run_whose_data_file_changed_or_vanished_fails_with_the_reason(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    data = tmp_path / "churn.csv"
    data.write_bytes((ROOT / "data" / "telco_customer_churn.csv").read_bytes())
    config = make_config()
    config.write_text(config.read_text().replace(str(ROOT / "data"), str(tmp_path))
                      .replace("telco_customer_churn.csv", "churn.csv"))  # fmt: skip
    outcome = run_experiment(store, config)
    assert outcome.audit.passed
    data.write_bytes(data.read_bytes() + b"\n")
    (mismatch,) = audit_run(store, outcome.run_id).mismatches
    assert mismatch.startswith(f"data: {data}: SHA-256 is ")
    data.unlink()
    (mismatch,) = audit_run(store, outcome.run_id).mismatches
    assert mismatch.startswith("data: ")


def test_a_run_without_a_config_or_with_an_invalid_one_fails(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    outcome = run_experiment(store, make_config())
    broken = tmp_path / "broken" / "config.toml"
    broken.parent.mkdir()
    broken.write_text("experiment = 'churn'\n")
    store.client.log_artifact(outcome.run_id, str(broken))
    mismatches = audit_run(store, outcome.run_id).mismatches
    assert mismatches[-1].startswith("the logged config is not a valid config: ")

    empty_run = store.client.create_run(store.experiment_id("churn"))
    (mismatch,) = audit_run(store, empty_run.info.run_id).mismatches
    assert mismatch == f"run {empty_run.info.run_id} logged 0 config files, not 1 (artifacts: [])"


def test_the_cli_audit_names_each_mismatch_and_exits_1(
    make_config: MakeConfig, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_experiment(store, make_config())
    assert main(["audit", outcome.run_id, "--tracking-uri", store.uri]) == 0
    assert "PASSED" in capsys.readouterr().out
    store.client.log_metric(outcome.run_id, "recall_top10", 1.0)
    assert main(["audit", outcome.run_id, "--tracking-uri", store.uri]) == 1
    out = capsys.readouterr().out
    assert "FAILED, 2 mismatch(es)" in out
    assert "  - metric recall_top10 was logged as 1.0, recomputed " in out


def test_an_unknown_run_or_a_run_without_a_config_is_an_error_not_a_traceback(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "0" * 32, "--tracking-uri", store.uri]) == 2
    assert "error: Run with id=00000000000000000000000000000000 not found" in capsys.readouterr().err
    bare = store.client.create_run(store.experiment_id("churn"))
    assert main(["reproduce", bare.info.run_id, "--tracking-uri", store.uri]) == 2
    assert f"error: run {bare.info.run_id} logged 0 config files, not 1" in capsys.readouterr().err


def test_a_metric_from_nowhere_is_caught(make_config: MakeConfig, store: Store) -> None:
    outcome = run_experiment(store, make_config())
    store.client.log_metric(outcome.run_id, "lift_top10", 2.7)
    assert audit_run(store, outcome.run_id).mismatches == (
        "metric lift_top10 = 2.7 was logged, but the audit computes no such metric",
    )

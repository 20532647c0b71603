"""`reproduce` and the seed: the same config gives the same numbers bit for bit; another seed, another split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from experiments import numerics
from experiments.cli import main
from experiments.reproduce import Mode, reproduce
from experiments.runs import run_experiment
from experiments.store import Store
from experiments.tracking import PREDICTIONS_ARTIFACT, read_predictions

MakeConfig = Callable[..., Path]

pytest_plugins = ["tests.exp_fixtures"]  # `store` (a private MLflow store per test) and `make_config`


def test_a_run_reproduces_exactly_as_a_new_run(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    original = run_experiment(store, make_config("logreg_c01"))
    again = reproduce(store, original.run_id)
    assert again.passed, again.table()
    assert again.plan.mode is Mode.HERE
    assert again.rerun_run_id != original.run_id
    assert again.rerun_metrics == original.result.metrics
    assert again.identical_predictions == len(again.rows) == len(original.result.split.y_test)
    tags = store.client.get_run(again.rerun_run_id).data.tags
    assert tags["reproduces"] == original.run_id
    assert tags["config.path"] == store.client.get_run(original.run_id).data.tags["config.path"]
    table = again.table()
    assert repr(original.result.metrics["roc_auc"]) in table  # full precision, side by side
    assert "predictions identical on 1409/1409 rows" in table
    assert f"equality: bit-identical under the recorded kernel {numerics.current().kernel}\n" in table
    assert table.endswith("reproduction: PASSED")


def test_a_tampered_run_does_not_reproduce(
    make_config: MakeConfig, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = run_experiment(store, make_config())
    store.client.log_metric(original.run_id, "f1", 0.75)
    assert main(["reproduce", original.run_id, "--tracking-uri", store.uri]) == 1
    out = capsys.readouterr().out
    assert "0.75" in out
    assert " NO" in out
    assert out.rstrip().endswith("reproduction: FAILED")


def test_different_predictions_or_rows_fail_the_reproduction(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    original = run_experiment(store, make_config())
    text = store.read_artifact_text(original.run_id, PREDICTIONS_ARTIFACT)
    header, first, *rest = text.splitlines()
    row, label, probability = first.split(",")
    nudged = tmp_path / "nudged" / "test.csv"
    nudged.parent.mkdir()
    nudged.write_text("\n".join([header, f"{row},{label},{float(probability) + 1e-12!r}", *rest]) + "\n")
    store.client.log_artifact(original.run_id, str(nudged), "predictions")
    again = reproduce(store, original.run_id)
    assert again.metrics_equal
    assert again.identical_predictions == len(again.rows) - 1
    assert not again.passed

    nudged.write_text("\n".join([header, *rest]) + "\n")  # one row fewer: not the same test rows
    store.client.log_artifact(original.run_id, str(nudged), "predictions")
    again = reproduce(store, original.run_id)
    assert not again.same_rows
    assert "test rows: DIFFERENT" in again.table()


def test_the_same_config_twice_gives_identical_metrics_another_seed_another_split(
    make_config: MakeConfig, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(make_config())
    assert main(["run", config, "--tracking-uri", store.uri]) == 0
    assert main(["run", config, "--tracking-uri", store.uri]) == 0
    assert main(["run", str(make_config(seed="7")), "--tracking-uri", store.uri]) == 0
    capsys.readouterr()
    runs = sorted(store.client.search_runs([store.experiment_id("churn")]), key=lambda run: run.info.start_time)
    first, second, reseeded = runs
    assert first.data.metrics == second.data.metrics
    rows = [read_predictions(store.read_artifact_text(run.info.run_id, PREDICTIONS_ARTIFACT)) for run in runs]
    assert np.array_equal(rows[0][0], rows[1][0])
    assert np.array_equal(rows[0][1], rows[1][1])
    assert not np.array_equal(np.sort(rows[0][0]), np.sort(rows[2][0]))  # the seed chose other test rows
    assert reseeded.data.metrics != first.data.metrics
    assert reseeded.data.params["model.random_state"] == "7"

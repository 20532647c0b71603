"""The model inside a run: found by its run, loaded only in skops format with our own trusted types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import mlflow.sklearn
import pytest

from experiments.audit import audit_run
from experiments.logged_model import LoggedModelError, find_logged_model, load_logged_model
from experiments.runs import run_experiment
from experiments.store import Store, active_store
from experiments.train import TrainResult

MakeConfig = Callable[..., Path]


def _log(store: Store, model: object, serialization_format: str) -> str:
    with active_store(store), mlflow.start_run(experiment_id=store.experiment_id("churn")) as run:
        mlflow.sklearn.log_model(
            sk_model=model, name="model", serialization_format=serialization_format, pip_requirements=[]
        )
    return str(run.info.run_id)


def test_a_pickled_model_is_refused_rather_than_unpickled(store: Store, baseline_result: TrainResult) -> None:
    run_id = _log(store, baseline_result.pipeline, "cloudpickle")
    logged = find_logged_model(store.client, store.client.get_run(run_id))
    with pytest.raises(LoggedModelError, match="not a skops-format scikit-learn model; refusing to unpickle"):
        load_logged_model(store, logged.model_uri)


def test_a_model_that_is_not_a_pipeline_is_refused(store: Store, baseline_result: TrainResult) -> None:
    run_id = _log(store, baseline_result.pipeline[-1], "skops")
    logged = find_logged_model(store.client, store.client.get_run(run_id))
    with pytest.raises(LoggedModelError, match="holds a LogisticRegression, not a scikit-learn Pipeline"):
        load_logged_model(store, logged.model_uri)


def test_a_run_with_a_config_but_no_model_fails_its_audit(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    outcome = run_experiment(store, make_config())
    config = store.read_artifact_text(outcome.run_id, "config.toml")
    bare = store.client.create_run(store.experiment_id("churn"))
    source = tmp_path / "bare" / "config.toml"
    source.parent.mkdir()
    source.write_text(config)
    store.client.log_artifact(bare.info.run_id, str(source))
    report = audit_run(store, bare.info.run_id)
    assert f"run {bare.info.run_id} has 0 logged models named 'model', not 1" in report.mismatches
    assert report.result is None
    assert not report.passed

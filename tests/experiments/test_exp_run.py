"""`run`: a config trained, logged to MLflow with what was actually used, and audited at the end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow.models import get_model_info

from experiments.cli import main
from experiments.config import load_config
from experiments.logged_model import MODEL_NAME, find_logged_model, signature
from experiments.params import MODEL_PREFIX, config_params
from experiments.plots import PLOT_FILES
from experiments.provenance import LOCK_FILE, MODEL_PACKAGES, lock_pins
from experiments.runs import run_experiment
from experiments.store import DEFAULT_TRACKING_URI, Store, default_artifact_root, resolve_tracking_uri
from experiments.tracking import PREDICTIONS_ARTIFACT, PROFILE_ARTIFACT, read_predictions
from service.profile import sha256_file

MakeConfig = Callable[..., Path]


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_run_logs_every_setting_of_the_config_and_the_estimators_own_params(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    config_path = make_config(C="0.5")
    outcome = run_experiment(store, config_path)
    params = store.client.get_run(outcome.run_id).data.params
    config = load_config(config_path)
    assert {key: value for key, value in params.items() if not key.startswith(MODEL_PREFIX)} == config_params(config)
    assert params["estimator.params.C"] == "0.5"  # from the file, not from anywhere else
    estimator = outcome.result.pipeline[-1]
    assert {key.removeprefix(MODEL_PREFIX) for key in params if key.startswith(MODEL_PREFIX)} == set(
        estimator.get_params()
    )
    assert params["model.C"] == "0.5"
    assert params["model.random_state"] == str(config.seed)


def test_a_run_logs_the_held_out_metrics_tags_and_artifacts(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    outcome = run_experiment(store, make_config())
    run = store.client.get_run(outcome.run_id)
    assert run.data.metrics == outcome.result.metrics
    assert set(run.data.metrics) == {
        "roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "log_loss",
        "precision_top10", "recall_top10",
    }  # fmt: skip
    tags = run.data.tags
    assert len(tags["git.commit"]) == 40
    assert tags["git.dirty"] in {"true", "false"}
    assert tags["data.sha256"] == outcome.result.dataset.sha256 == sha256_file(outcome.result.dataset.path)
    assert tags["requirements.sha256"] == sha256_file(LOCK_FILE)
    assert tags["python.version"].startswith("3.11")
    assert tags["package.scikit-learn"] == lock_pins()["scikit-learn"]
    assert tags["package.mlflow"] == mlflow.__version__
    assert tags["audit"] == "passed"

    artifacts = {item.path for item in store.client.list_artifacts(outcome.run_id)}
    assert artifacts == {"config.toml", PROFILE_ARTIFACT, "plots", "predictions"}
    for name in PLOT_FILES:
        local = store.client.download_artifacts(outcome.run_id, f"plots/{name}", dst_path=str(tmp_path))
        assert Path(local).read_bytes().startswith(PNG_MAGIC)
    profile = json.loads(store.read_artifact_text(outcome.run_id, PROFILE_ARTIFACT))
    assert profile["dataset"]["sha256"] == outcome.result.dataset.sha256
    rows, probabilities = read_predictions(store.read_artifact_text(outcome.run_id, PREDICTIONS_ARTIFACT))
    assert list(rows) == list(outcome.result.split.X_test.index)
    assert (probabilities == outcome.result.test_probabilities).all()  # exact, not approximately


def test_the_logged_model_has_a_signature_an_example_and_the_locks_pins(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    outcome = run_experiment(store, make_config())
    logged = find_logged_model(store.client, store.client.get_run(outcome.run_id))
    assert logged.name == MODEL_NAME
    info = get_model_info(logged.model_uri)
    assert info.signature == signature()
    assert info.saved_input_example_info is not None
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    requirements = Path(
        mlflow.artifacts.download_artifacts(f"{logged.artifact_location}/requirements.txt", dst_path=str(tmp_path))
    )
    pins = lock_pins()
    assert requirements.read_text().split() == [f"{name}=={pins[name]}" for name in MODEL_PACKAGES]


def test_the_cli_runs_a_config_and_prints_the_audit_verdict(
    make_config: MakeConfig, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(make_config()), "--tracking-uri", store.uri]) == 0
    out = capsys.readouterr().out
    assert "roc_auc" in out
    assert "PASSED" in out
    (run,) = store.client.search_runs([store.experiment_id("churn")])
    assert run.info.run_name == "baseline"
    assert run.info.artifact_uri.startswith((store.artifact_root or Path("/nowhere")).as_uri())


def test_the_store_is_local_sqlite_unless_mlflow_tracking_uri_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"
    assert default_artifact_root(DEFAULT_TRACKING_URI) == Path("mlartifacts").resolve()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri() == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert default_artifact_root("http://127.0.0.1:5000") is None  # a server decides where artifacts go


def test_the_metrics_are_linked_to_the_logged_model(make_config: MakeConfig, store: Store) -> None:
    outcome = run_experiment(store, make_config())
    logged = find_logged_model(store.client, store.client.get_run(outcome.run_id))
    linked = {metric.key: metric.value for metric in store.client.get_logged_model(logged.model_id).metrics or []}
    assert linked == outcome.result.metrics


def test_a_bug_is_not_turned_into_an_error_message(store: Store, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        main(["run", str(tmp_path / "missing.toml"), "--tracking-uri", store.uri])

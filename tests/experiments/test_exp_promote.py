"""`promote`: the only road to serving. Audited, above the floors, registered as champion, written atomically,
picked up by a running service; the previous champion stays one `--rollback` away."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

import experiments.promote
from experiments.cli import main
from experiments.data import FEATURES
from experiments.promote import CHAMPION, PREVIOUS, PromotionRefused, promote, rollback
from experiments.runs import run_experiment
from experiments.store import Store
from service.manifest import MODEL_FILE, read_manifest
from service.model_store import ModelStore
from service.profile import load_profile
from testkit.paths import PROFILE_PATH

MakeConfig = Callable[..., Path]


def _champion(store: Store) -> str:
    return str(store.client.get_model_version_by_alias("churn", CHAMPION).run_id)


def test_promote_registers_the_champion_and_writes_the_serving_directory(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    outcome = run_experiment(store, make_config())
    target = tmp_path / "models" / "churn"
    done = promote(store, outcome.run_id, target, PROFILE_PATH)
    assert str(done.registered.version) == "1"
    assert done.previous is None
    assert _champion(store) == outcome.run_id
    manifest = read_manifest(target)
    assert manifest == done.manifest
    assert (manifest.version, manifest.mlflow_run_id, manifest.config) == ("1", outcome.run_id, "baseline")
    assert manifest.metrics == outcome.result.metrics
    assert manifest.profile_sha256 == load_profile(PROFILE_PATH)[1]
    assert sorted(path.name for path in target.parent.iterdir()) == ["churn"]  # no staging left behind
    version = store.client.get_model_version("churn", "1")
    assert version.tags["serving_version"] == "1"
    assert "now @champion" in done.summary()


def test_a_new_champion_keeps_the_old_one_for_rollback_and_a_running_service_follows(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    target = tmp_path / "models" / "churn"
    first = run_experiment(store, make_config())
    second = run_experiment(store, make_config("logreg_c01"))
    promote(store, first.run_id, target, PROFILE_PATH)
    service = ModelStore(target, load_profile(PROFILE_PATH)[1], FEATURES)
    assert service.refresh()
    assert service.current is not None
    assert service.current.version == "1"

    done = promote(store, second.run_id, target, PROFILE_PATH)
    assert done.previous is not None
    assert done.previous.run_id == first.run_id
    assert store.client.get_model_version_by_alias("churn", PREVIOUS).run_id == first.run_id
    assert service.refresh()  # the same ModelStore object: no restart
    assert service.current is not None
    assert service.current.version == "2"
    assert service.current.manifest.mlflow_run_id == second.run_id

    back = rollback(store, target, PROFILE_PATH)
    assert back.action == "rolled back"
    assert (_champion(store), store.client.get_model_version_by_alias("churn", PREVIOUS).run_id) == (
        first.run_id,
        second.run_id,
    )
    assert service.refresh()
    assert service.current is not None
    assert service.current.manifest.mlflow_run_id == first.run_id
    assert service.current.version == "3"  # new bytes on disk, so a new serving version
    rollback(store, target, PROFILE_PATH)  # rolling back the rollback: forward again
    assert _champion(store) == second.run_id


def test_promoting_the_champion_again_changes_nothing(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    target = tmp_path / "churn"
    first = run_experiment(store, make_config())
    second = run_experiment(store, make_config("logreg_c01"))
    promote(store, first.run_id, target, PROFILE_PATH)
    promote(store, second.run_id, target, PROFILE_PATH)
    again = promote(store, second.run_id, target, PROFILE_PATH)
    assert str(again.registered.version) == "2"
    assert again.manifest.version == "2"
    assert again.previous is not None
    assert again.previous.run_id == first.run_id
    assert len(store.client.search_model_versions("name = 'churn'")) == 2


def test_a_run_that_fails_its_audit_is_refused(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    outcome = run_experiment(store, make_config())
    store.client.log_metric(outcome.run_id, "roc_auc", 0.99)
    with pytest.raises(PromotionRefused, match="failed its audit") as caught:
        promote(store, outcome.run_id, tmp_path / "churn", PROFILE_PATH)
    assert "metric roc_auc was logged as 0.99" in str(caught.value)
    assert not (tmp_path / "churn").exists()
    assert store.client.search_registered_models() == []


def test_a_run_below_its_floors_is_refused(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    outcome = run_experiment(store, make_config(min_roc_auc="0.99", min_recall_top10="0.9"))
    with pytest.raises(PromotionRefused) as caught:
        promote(store, outcome.run_id, tmp_path / "churn", PROFILE_PATH)
    message = str(caught.value)
    assert f"roc_auc {outcome.result.metrics['roc_auc']:.4f} is below the floor 0.9900" in message
    assert "recall_top10" in message
    assert not (tmp_path / "churn").exists()


def test_a_profile_of_other_data_or_no_profile_is_refused(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    outcome = run_experiment(store, make_config())
    other = json.loads(PROFILE_PATH.read_text())
    other["dataset"]["sha256"] = "0" * 64
    other_path = tmp_path / "other_profile.json"
    other_path.write_text(json.dumps(other))
    with pytest.raises(PromotionRefused, match="the service would validate against the wrong profile"):
        promote(store, outcome.run_id, tmp_path / "churn", other_path)
    with pytest.raises(PromotionRefused, match="cannot read data profile"):
        promote(store, outcome.run_id, tmp_path / "churn", tmp_path / "missing.json")


def test_a_failed_write_puts_the_aliases_back(
    make_config: MakeConfig, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "churn"
    first = run_experiment(store, make_config())
    second = run_experiment(store, make_config("logreg_c01"))
    promote(store, first.run_id, target, PROFILE_PATH)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(experiments.promote, "export_model_dir", disk_full)
    with pytest.raises(OSError, match="No space left"):
        promote(store, second.run_id, target, PROFILE_PATH)
    assert _champion(store) == first.run_id
    assert read_manifest(target).mlflow_run_id == first.run_id


def test_rollback_without_a_previous_champion_is_refused(make_config: MakeConfig, store: Store, tmp_path: Path) -> None:
    with pytest.raises(PromotionRefused, match="has no @previous-champion"):
        rollback(store, tmp_path / "churn", PROFILE_PATH)
    outcome = run_experiment(store, make_config())
    promote(store, outcome.run_id, tmp_path / "churn", PROFILE_PATH)
    with pytest.raises(PromotionRefused, match="has no @previous-champion"):
        rollback(store, tmp_path / "churn", PROFILE_PATH)


def test_the_cli_promotes_rolls_back_and_refuses(
    make_config: MakeConfig, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp_path / "churn")
    first = run_experiment(store, make_config())
    second = run_experiment(store, make_config("hist_gbm", max_iter="30"))
    common = ["--tracking-uri", store.uri, "--model-dir", target, "--profile", str(PROFILE_PATH)]
    assert main(["promote", first.run_id, *common]) == 0
    assert main(["promote", second.run_id, *common]) == 0
    assert read_manifest(Path(target)).estimator == "HistGradientBoostingClassifier"
    assert main(["promote", "--rollback", *common]) == 0
    out = capsys.readouterr().out
    assert "rolled back: churn version 1" in out
    assert (Path(target) / MODEL_FILE).exists()

    assert main(["promote", *common]) == 2
    assert main(["promote", first.run_id, "--rollback", *common]) == 2
    assert "give a RUN_ID to promote, or --rollback (not both)" in capsys.readouterr().out
    store.client.log_metric(first.run_id, "accuracy", 1.0)
    assert main(["promote", first.run_id, *common]) == 1
    assert "refused: run " in capsys.readouterr().out


def test_a_failing_registry_is_an_error_not_an_absent_champion(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str, alias: str) -> None:
        raise MlflowException("API request failed", error_code=INTERNAL_ERROR)

    monkeypatch.setattr(store.client, "get_model_version_by_alias", broken)
    with pytest.raises(MlflowException, match="API request failed"):
        rollback(store, Path("unused"), PROFILE_PATH)

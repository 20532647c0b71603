"""Model directories: written atomically, versioned by content, vouched for by their manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from experiments.config import EstimatorConfig
from experiments.model_dir import export_model_dir, next_version, write_model_dir
from experiments.train import TrainResult, train
from service.manifest import MANIFEST_FILE, MODEL_FILE, read_manifest
from service.plan import PLAN_FILE
from service.reference import REFERENCE_FILE
from testkit.paths import PROFILE_PATH, ROOT


def test_manifest_records_hashes_metrics_and_provenance(tmp_path: Path, baseline_result: TrainResult) -> None:
    target = tmp_path / "churn"
    manifest = export_model_dir(baseline_result, target, PROFILE_PATH)
    assert manifest.version == "1"
    assert manifest.model_sha256 == hashlib.sha256((target / MODEL_FILE).read_bytes()).hexdigest()
    assert manifest.profile_sha256 == hashlib.sha256(PROFILE_PATH.read_bytes()).hexdigest()
    assert manifest.data_sha256 == baseline_result.dataset.sha256
    assert manifest.metrics == baseline_result.metrics
    assert manifest.seed == baseline_result.config.seed
    assert read_manifest(target) == manifest


def test_same_bytes_keep_their_version_new_bytes_get_the_next(tmp_path: Path, baseline_result: TrainResult) -> None:
    target = tmp_path / "churn"
    export_model_dir(baseline_result, target, PROFILE_PATH)
    assert export_model_dir(baseline_result, target, PROFILE_PATH).version == "1"
    stronger = baseline_result.config.model_copy(
        update={"estimator": EstimatorConfig(name="LogisticRegression", params={"C": 0.1, "max_iter": 1000})}
    )
    assert export_model_dir(train(stronger, baseline_result.dataset), target, PROFILE_PATH).version == "2"
    assert read_manifest(target).version == "2"


def test_the_swap_leaves_no_staging_directories(tmp_path: Path, baseline_result: TrainResult) -> None:
    target = tmp_path / "churn"
    export_model_dir(baseline_result, target, PROFILE_PATH)
    export_model_dir(baseline_result, target, PROFILE_PATH)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["churn"]
    assert sorted(p.name for p in target.iterdir()) == sorted([MANIFEST_FILE, MODEL_FILE, REFERENCE_FILE, PLAN_FILE])


def test_write_replaces_an_existing_directory_whole(tmp_path: Path, baseline_result: TrainResult) -> None:
    target = tmp_path / "churn"
    manifest = export_model_dir(baseline_result, target, PROFILE_PATH)
    (target / "leftover.txt").write_text("from the previous model")
    write_model_dir(target, b"new model bytes", manifest.model_copy(update={"version": "9"}))
    assert (target / MODEL_FILE).read_bytes() == b"new model bytes"
    assert not (target / "leftover.txt").exists()


def test_unreadable_or_foreign_versions_restart_at_one(tmp_path: Path) -> None:
    assert next_version(tmp_path / "absent", "0" * 64) == "1"
    target = tmp_path / "churn"
    target.mkdir()
    manifest = json.loads((ROOT / "models/churn" / MANIFEST_FILE).read_text())
    (target / MANIFEST_FILE).write_text(json.dumps({**manifest, "version": "champion"}))
    assert next_version(target, "0" * 64) == "1"

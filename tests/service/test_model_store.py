"""ModelStore and load_model_dir without HTTP: what gets loaded, what is refused, and when health re-checks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest
from sklearn.pipeline import Pipeline

from experiments.model_dir import serialize_pipeline
from experiments.train import TrainResult
from service.manifest import MANIFEST_FILE, MODEL_FILE, read_manifest
from service.model_store import ModelLoadError, ModelStore, load_model_dir
from service.profile import sha256_file
from testkit.paths import PROFILE_PATH
from tests.utils.models import publish_bytes
from tests.utils.profile import PROFILE

PROFILE_SHA256 = sha256_file(PROFILE_PATH)
FEATURES = tuple(PROFILE.features)


def _store(model_dir: Path) -> ModelStore:
    return ModelStore(model_dir, PROFILE_SHA256, FEATURES)


def test_a_verified_directory_loads_with_its_manifest(model_dir: Path) -> None:
    loaded = load_model_dir(model_dir, PROFILE_SHA256, FEATURES)
    assert loaded.manifest == read_manifest(model_dir)
    assert loaded.version == loaded.manifest.version
    assert loaded.model_path == model_dir / MODEL_FILE
    assert loaded.stamp.size == (model_dir / MODEL_FILE).stat().st_size


def test_a_model_for_other_features_is_refused(model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="expects features"):
        load_model_dir(model_dir, PROFILE_SHA256, FEATURES[:-1])


def test_a_pipeline_without_a_fast_path_is_refused(model_dir: Path, baseline_result: TrainResult) -> None:
    estimator_only = Pipeline([("model", baseline_result.pipeline.steps[-1][1])])
    model_bytes = serialize_pipeline(dataclasses.replace(baseline_result, pipeline=estimator_only))
    publish_bytes(baseline_result, model_dir, model_bytes, version="3")
    with pytest.raises(ModelLoadError, match=r"expected Pipeline\(\[ColumnTransformer, estimator\]\)"):
        load_model_dir(model_dir, PROFILE_SHA256, FEATURES)


def test_the_manifests_model_file_name_is_honoured(model_dir: Path) -> None:
    renamed = model_dir / "weights.joblib"
    (model_dir / MODEL_FILE).rename(renamed)
    manifest = read_manifest(model_dir).model_copy(update={"model_file": renamed.name})
    (model_dir / MANIFEST_FILE).write_text(manifest.to_json())

    store = _store(model_dir)
    assert store.refresh() is True
    assert store.current is not None
    assert store.current.model_path == renamed
    assert store.health().healthy
    renamed.unlink()
    health = store.health()
    assert not health.healthy
    assert "deleted" in str(health.reason)


def test_refresh_loads_only_when_the_directory_changed(model_dir: Path) -> None:
    store = _store(model_dir)
    assert store.current is None
    assert store.refresh() is True
    first = store.current
    assert store.refresh() is False
    assert store.current is first


def test_identical_bytes_rewritten_stay_healthy_after_a_rehash(model_dir: Path) -> None:
    store = _store(model_dir)
    store.refresh()
    path = model_dir / MODEL_FILE
    data = path.read_bytes()
    replacement = path.with_name("replacement")
    replacement.write_bytes(data)
    os.replace(replacement, path)  # a new inode: stat says "changed", only the hash can say "same"
    health = store.health()
    assert health.healthy, health.reason
    assert hashlib.sha256(path.read_bytes()).hexdigest() == read_manifest(model_dir).model_sha256


def test_other_bytes_of_the_same_size_are_caught_by_the_hash(model_dir: Path) -> None:
    store = _store(model_dir)
    store.refresh()
    path = model_dir / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    replacement = path.with_name("replacement")
    replacement.write_bytes(bytes(data))
    os.replace(replacement, path)
    health = store.health()
    assert not health.healthy
    assert health.model_loaded
    assert "a reload is pending" in str(health.reason)  # health alone does not reload
    store.refresh()
    assert "reload failed" in str(store.health().reason)


def test_health_without_any_attempt_says_so(tmp_path: Path) -> None:
    health = _store(tmp_path / "nothing").health()
    assert (health.healthy, health.model_loaded, health.model_version) == (False, False, None)
    assert health.reason == "no model loaded yet"


@pytest.mark.parametrize("name", ["../model.joblib", "/etc/passwd", "..", "sub/model.joblib", ".hidden"])
def test_a_manifest_cannot_point_outside_its_directory(model_dir: Path, name: str) -> None:
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    (model_dir / MANIFEST_FILE).write_text(json.dumps({**manifest, "model_file": name}))
    with pytest.raises(ModelLoadError, match="invalid"):
        load_model_dir(model_dir, PROFILE_SHA256, FEATURES)

"""Drift: the reference comes from the training split and is hashed by the manifest; a planted shift is
flagged on exactly the features that shifted; old model directories still load, drift "not available"."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from experiments.train import TrainResult
from scoring.weekly import Scorer
from service.manifest import MANIFEST_FILE, read_manifest
from service.model_store import ModelLoadError, load_model_dir
from service.profile import load_profile
from service.reference import REFERENCE_FILE, Reference
from testkit.paths import DATA, PROFILE_PATH
from tests.scoring.kit import data_rows, scorer_for, weekly, write_csv

PROFILE, PROFILE_SHA256 = load_profile(PROFILE_PATH)
FEATURES = tuple(PROFILE.features)


def test_an_unshifted_week_flags_nothing(scorer: Scorer, tmp_path: Path) -> None:
    drift = weekly(scorer, DATA, tmp_path / "out").summary["drift"]
    assert drift["available"]
    assert drift["flagged"] == {}
    assert set(drift["features"]) == set(FEATURES)


def test_a_shifted_week_flags_exactly_the_shifted_features(scorer: Scorer, tmp_path: Path) -> None:
    rows = data_rows()
    for row in rows:
        row["Contract"] = "Month-to-month"
        row["tenure"] = str(math.ceil(int(row["tenure"]) / 2))  # ceil: tenure 0 stays 0, so the rules still hold
    outcome = weekly(scorer, write_csv(tmp_path / "shifted.csv", rows), tmp_path / "out")
    assert outcome.summary["rows"]["rejected"] == 0
    drift = outcome.summary["drift"]
    assert set(drift["flagged"]) == {"contract", "tenure"}
    assert drift["flagged"]["contract"] == "act"
    assert drift["features"]["contract"]["shares"]["Month-to-month"] == 1.0


def test_values_beyond_the_bounds_count_as_drift_though_rejected(scorer: Scorer, tmp_path: Path) -> None:
    rows = data_rows()[:1000]
    for row in rows[:100]:
        row["MonthlyCharges"] = "500"
    drift = weekly(scorer, write_csv(tmp_path / "far.csv", rows), tmp_path / "out", max_rejected_share=1).summary
    assert drift["drift"]["features"]["monthly_charges"]["beyond_bounds_share"] == 0.1
    assert drift["drift"]["features"]["tenure"]["beyond_bounds_share"] == 0.0


def test_the_reference_is_derived_from_the_training_split(
    trained_model_dir: Path, baseline_result: TrainResult
) -> None:
    reference = Reference.model_validate_json((trained_model_dir / REFERENCE_FILE).read_bytes())
    split = baseline_result.split
    assert reference.rows == len(split.X_train)
    shares = split.X_train["contract"].value_counts(normalize=True)
    assert reference.categorical["contract"].shares == {k: float(v) for k, v in sorted(shares.items())}
    tenure = reference.numeric["tenure"]
    assert math.isclose(sum(tenure.shares), 1.0)
    assert (
        read_manifest(trained_model_dir).reference_sha256
        == hashlib.sha256((trained_model_dir / REFERENCE_FILE).read_bytes()).hexdigest()
    )


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "churn"
    shutil.copytree(source, target)
    return target


def test_a_tampered_or_missing_reference_is_refused(trained_model_dir: Path, tmp_path: Path) -> None:
    directory = _copy(trained_model_dir, tmp_path)
    path = directory / REFERENCE_FILE
    path.write_text(path.read_text().replace('"rows"', '"rows" ', 1))
    with pytest.raises(ModelLoadError, match=r"reference\.json does not have the SHA-256"):
        load_model_dir(directory, PROFILE_SHA256, FEATURES)
    path.unlink()
    with pytest.raises(ModelLoadError, match="missing or unreadable"):
        load_model_dir(directory, PROFILE_SHA256, FEATURES)


def test_a_directory_from_before_the_reference_loads_without_drift(trained_model_dir: Path, tmp_path: Path) -> None:
    directory = _copy(trained_model_dir, tmp_path)
    (directory / REFERENCE_FILE).unlink()
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    del manifest["reference_file"], manifest["reference_sha256"]
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    model = load_model_dir(directory, PROFILE_SHA256, FEATURES)
    assert model.reference is None
    summary = weekly(scorer_for(model), DATA, tmp_path / "out").summary
    assert summary["drift"]["available"] is False
    assert summary["reasons"]["available"] is False
    assert summary["rows"]["scored"] == 7043

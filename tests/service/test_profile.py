"""The data profile: ranges, category sets and cross-field rules, each true of every training row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from experiments.data import CATEGORICAL_FEATURES, DEFAULT_DATA_PATH, NUMERIC_FEATURES, Dataset, load_dataset
from experiments.profile import CANDIDATE_RULES, ProfileRuleError, build_profile
from service.profile import (
    CategoricalFeature,
    Condition,
    DataProfile,
    IntegerFeature,
    NumberFeature,
    ProfileError,
    Rule,
    load_profile,
)
from testkit.paths import ROOT


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return load_dataset(ROOT / DEFAULT_DATA_PATH)


def test_numeric_bounds_are_the_training_extremes(profile: DataProfile, dataset: Dataset) -> None:
    for name in NUMERIC_FEATURES:
        spec = profile.features[name]
        assert isinstance(spec, IntegerFeature | NumberFeature)
        assert (spec.min, spec.max) == (dataset.frame[name].min(), dataset.frame[name].max())
    assert profile.features["tenure"] == IntegerFeature(min=0, max=72)
    assert profile.features["total_charges"].nullable
    assert not profile.features["monthly_charges"].nullable


def test_category_sets_are_exactly_the_training_values(profile: DataProfile, dataset: Dataset) -> None:
    for name in CATEGORICAL_FEATURES:
        spec = profile.features[name]
        assert isinstance(spec, CategoricalFeature)
        assert set(spec.allowed) == set(dataset.frame[name])
    assert "Fiber optic" in profile.features["internet_service"].allowed  # type: ignore[union-attr]


def test_records_the_data_hash_and_size(profile: DataProfile) -> None:
    assert profile.dataset.rows == 7043
    assert profile.dataset.columns == 21
    assert profile.dataset.sha256 == load_dataset(ROOT / DEFAULT_DATA_PATH).sha256
    assert profile.target.positive_rows == 1869


def test_every_declared_rule_is_in_the_profile(profile: DataProfile) -> None:
    names = {rule.name for rule in profile.rules}
    assert names == {rule.name for rule in CANDIDATE_RULES}
    assert len(names) == 8  # six internet add-ons, multiple lines, total charges


def test_a_rule_that_fails_on_the_data_stops_profiling(dataset: Dataset) -> None:
    wrong = Rule(
        name="tenure_one_means_null",
        when=Condition(field="tenure", equals=1),
        then=Condition(field="total_charges", is_null=True),
    )
    with pytest.raises(ProfileRuleError, match="tenure_one_means_null"):
        build_profile(dataset, rules=(wrong,))


def test_an_inconsistent_training_row_breaks_its_rule(dataset: Dataset) -> None:
    frame = dataset.frame.copy()
    dsl_row = frame.index[frame["internet_service"] == "DSL"][0]
    frame.loc[dsl_row, "tech_support"] = "No internet service"
    with pytest.raises(ProfileRuleError, match=r"tech_support_needs_internet .* fails on 1 training rows"):
        build_profile(dataclasses.replace(dataset, frame=frame))


def test_rule_semantics_in_both_directions(profile: DataProfile) -> None:
    rule = next(r for r in profile.rules if r.name == "total_charges_null_at_zero_tenure")
    assert rule.holds({"tenure": 0, "total_charges": None})
    assert rule.holds({"tenure": 3, "total_charges": 10.0})
    assert not rule.holds({"tenure": 0, "total_charges": 10.0})
    assert not rule.holds({"tenure": 3, "total_charges": None})
    assert rule.describe() == "tenure == 0 exactly when total_charges is null"


def test_missing_or_invalid_profile_files_raise_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"dataset": {}}')
    with pytest.raises(ProfileError, match="not a valid profile"):
        load_profile(broken)

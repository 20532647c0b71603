"""Sabotage proofs for the valid-input check, and the boundary cases it is built from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

import service.dataplane
import service.schemas
from service.manifest import read_manifest
from service.profile import CategoricalFeature, DataProfile, Feature, IntegerFeature
from service.schemas import Prediction
from testkit.customers import boundary_cases
from testkit.paths import MODEL_DIR
from verification.valid_input import check_valid_input


def test_cases_cover_every_category_and_both_range_ends_each_in_a_consistent_row(profile: DataProfile) -> None:
    cases = boundary_cases(profile)
    covered = {(case.field, case.value) for case in cases}
    for name, spec in profile.features.items():
        wanted = spec.allowed if isinstance(spec, CategoricalFeature) else (spec.min, spec.max)
        assert {(name, value) for value in wanted} <= covered, name
    assert all(case.row[case.field] == case.value and not profile.violations(case.row) for case in cases)


def test_the_committed_service_passes(profile: DataProfile) -> None:
    result = check_valid_input()
    assert result.passed, result.failures
    assert result.evidence["cases"] == len(boundary_cases(profile))


def exclusive_bounds(original: Callable[[Feature], Any]) -> Callable[[Feature], Any]:
    """Off by one at both ends: `gt`/`lt` where the profile's bounds are inclusive."""

    def field_type(spec: Feature) -> Any:
        if isinstance(spec, CategoricalFeature):
            return original(spec)
        base = int if isinstance(spec, IntegerFeature) else float
        kind: Any = Annotated[base, Field(strict=True, gt=spec.min, lt=spec.max)]
        return kind | None if spec.nullable else kind

    return field_type


def last_category_dropped(original: Callable[[Feature], Any]) -> Callable[[Feature], Any]:
    def field_type(spec: Feature) -> Any:
        if isinstance(spec, CategoricalFeature):
            return Literal[spec.allowed[:-1]]
        return original(spec)

    return field_type


def test_bounds_that_exclude_the_range_ends_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.schemas, "_field_type", exclusive_bounds(service.schemas._field_type))
    failures = check_valid_input().failures
    assert any(f.startswith("POST /predict tenure=0: answered 422") for f in failures), failures
    assert any(f.startswith("POST /predict monthly_charges=118.75: answered 422") for f in failures), failures


def test_a_dropped_category_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.schemas, "_field_type", last_category_dropped(service.schemas._field_type))
    failures = check_valid_input().failures
    assert any(f.startswith("POST /predict payment_method='Mailed check': answered 422") for f in failures), failures


def test_an_answer_without_the_serving_version_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = service.dataplane._answers

    def unversioned(*args: Any) -> list[Prediction]:
        return [answer.model_copy(update={"model_version": "latest"}) for answer in original(*args)]

    monkeypatch.setattr(service.dataplane, "_answers", unversioned)
    failures = check_valid_input().failures
    serving = read_manifest(MODEL_DIR).version
    assert any(f"model_version 'latest' is not the serving model's {serving!r}" in f for f in failures), failures


def test_a_hard_coded_prediction_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = service.dataplane._answers

    def always_churn(*args: Any) -> list[Prediction]:
        return [answer.model_copy(update={"prediction": 1}) for answer in original(*args)]

    monkeypatch.setattr(service.dataplane, "_answers", always_churn)
    failures = check_valid_input().failures
    assert any("prediction 1 disagrees with probability" in f for f in failures), failures

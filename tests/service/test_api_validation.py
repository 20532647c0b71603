"""POST /predict on invalid input: 422 problem+json naming every bad field, with its range or category set."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from testkit.customers import customer
from tests.utils.problems import field_errors
from tests.utils.profile import CATEGORICAL, INTEGER, NON_NULLABLE, NUMBER, NUMERIC, PROFILE

JSON = {"content-type": "application/json"}


def _outside(field: str) -> list[tuple[str, int | float]]:
    spec = NUMERIC[field]
    if field in INTEGER:
        return [("below", spec.min - 1), ("above", spec.max + 1)]
    return [
        ("below", round(spec.min - 0.01, 2)),
        ("above", round(spec.max + 0.01, 2)),
        ("just below", math.nextafter(spec.min, -math.inf)),
        ("just above", math.nextafter(spec.max, math.inf)),
    ]


def _expect_only(answer: Any, field: str) -> dict[str, Any]:
    errors = field_errors(answer)
    assert set(errors) == {field}, errors
    return errors[field]


def _expect_range(error: dict[str, Any], field: str) -> None:
    spec = NUMERIC[field]
    assert error["valid_range"] == {"min": spec.min, "max": spec.max}
    assert "allowed" not in error


def _expect_categories(error: dict[str, Any], field: str) -> None:
    assert error["allowed"] == list(CATEGORICAL[field].allowed)
    assert "valid_range" not in error


@pytest.mark.parametrize(("field", "side", "value"), [(f, side, v) for f in NUMERIC for side, v in _outside(f)])
def test_one_step_outside_the_range_is_refused(client: TestClient, field: str, side: str, value: float) -> None:
    error = _expect_only(client.post("/predict", json=customer(**{field: value})), field)
    _expect_range(error, field)
    assert ("greater" if side.endswith("below") else "less") in error["message"]


@pytest.mark.parametrize("field", list(CATEGORICAL))
@pytest.mark.parametrize("value", ["Maybe", "", "yes", " Yes"])
def test_unknown_category_is_refused_with_the_allowed_set(client: TestClient, field: str, value: str) -> None:
    _expect_categories(_expect_only(client.post("/predict", json=customer(**{field: value})), field), field)


WRONG_TYPES: list[tuple[str, Any]] = [
    *[(field, value) for field in INTEGER for value in [True, False, "1", 0.5, 1.000001, [1], {"v": 1}]],
    *[(field, value) for field in NUMBER for value in [True, "12", "29.85", [29.85], {"v": 29.85}]],
    *[(field, value) for field in CATEGORICAL for value in [1, True, ["Yes"], {"v": "Yes"}]],
]


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES)
def test_wrong_type_is_refused_without_coercion(client: TestClient, field: str, value: Any) -> None:
    error = _expect_only(client.post("/predict", json=customer(**{field: value})), field)
    if field in CATEGORICAL:
        _expect_categories(error, field)
    else:
        _expect_range(error, field)


@pytest.mark.parametrize("field", list(NUMERIC))
@pytest.mark.parametrize("token", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_tokens_are_refused(client: TestClient, field: str, token: float) -> None:
    text = json.dumps(customer(**{field: token}))  # Python writes the raw NaN / Infinity / -Infinity tokens
    assert any(raw in text for raw in ("NaN", "Infinity"))
    _expect_range(_expect_only(client.post("/predict", content=text, headers=JSON), field), field)


@pytest.mark.parametrize("field", NON_NULLABLE)
def test_null_is_refused_where_the_profile_has_no_nulls(client: TestClient, field: str) -> None:
    error = _expect_only(client.post("/predict", json=customer(**{field: None})), field)
    assert ("allowed" in error) != ("valid_range" in error)


@pytest.mark.parametrize("field", list(PROFILE.features))
def test_missing_field_is_named(client: TestClient, field: str) -> None:
    row = customer()
    del row[field]
    error = _expect_only(client.post("/predict", json=row), field)
    assert error["message"] == "field required"


def test_unknown_field_is_refused(client: TestClient) -> None:
    error = _expect_only(client.post("/predict", json=customer(churn="Yes")), "churn")
    assert error["message"] == "unknown field"
    assert "allowed" not in error
    assert "valid_range" not in error


@pytest.mark.parametrize("customer_id", ["", "a" * 65, "has space", "semi;colon", "new\nline", "ünï"])
def test_customer_id_outside_its_pattern_is_refused(client: TestClient, customer_id: str) -> None:
    _expect_only(client.post("/predict", json=customer(customer_id=customer_id)), "customer_id")


def test_every_problem_is_listed_at_once(client: TestClient) -> None:
    row = customer(tenure=73, gender="Other", monthly_charges="12", senior_citizen=True, nickname="x")
    del row["contract"]
    errors = field_errors(client.post("/predict", json=row))
    assert set(errors) == {"tenure", "gender", "monthly_charges", "senior_citizen", "nickname", "contract"}
    assert errors["tenure"]["valid_range"] == {"min": 0, "max": 72}
    assert errors["gender"]["allowed"] == ["Female", "Male"]
    assert errors["contract"]["message"] == "field required"
    assert errors["nickname"]["message"] == "unknown field"


@pytest.mark.parametrize("body", [[], "customer", 1, None, [{"tenure": 1}]])
def test_a_body_that_is_not_an_object_is_refused(client: TestClient, body: Any) -> None:
    _expect_only(client.post("/predict", content=json.dumps(body), headers=JSON), "body")

"""Properties over the whole profile: any in-profile customer is scored; any one field pushed out is named."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.profile import CategoricalFeature, Feature, IntegerFeature
from service.schemas import CUSTOMER_ID_PATTERN
from testkit.customers import consistent
from tests.utils.problems import field_errors
from tests.utils.profile import PROFILE

# Deterministic in CI, no example database on disk; the client is reused across examples on purpose:
# predictions do not change the service's state.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _in_profile(spec: Feature) -> st.SearchStrategy[Any]:
    value: st.SearchStrategy[Any]
    if isinstance(spec, CategoricalFeature):
        value = st.sampled_from(spec.allowed)
    elif isinstance(spec, IntegerFeature):
        value = st.integers(spec.min, spec.max)
    else:
        value = st.floats(spec.min, spec.max, allow_nan=False)
    return st.none() | value if spec.nullable else value


def _out_of_profile(spec: Feature) -> st.SearchStrategy[Any]:
    if isinstance(spec, CategoricalFeature):
        return st.text(max_size=20).filter(lambda value: value not in spec.allowed)
    if isinstance(spec, IntegerFeature):
        return st.integers(max_value=spec.min - 1) | st.integers(min_value=spec.max + 1)
    below = st.floats(max_value=spec.min, exclude_max=True, allow_nan=False, allow_infinity=False)
    above = st.floats(min_value=spec.max, exclude_min=True, allow_nan=False, allow_infinity=False)
    return below | above


customers = st.fixed_dictionaries(
    {name: _in_profile(spec) for name, spec in PROFILE.features.items()},
    optional={"customer_id": st.from_regex(CUSTOMER_ID_PATTERN, fullmatch=True)},
).map(lambda row: consistent(row, PROFILE))


@st.composite
def one_field_out(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    row = draw(customers)
    field = draw(st.sampled_from(list(PROFILE.features)))
    row[field] = draw(_out_of_profile(PROFILE.features[field]))
    return row, field


@PROPERTY
@given(row=customers)
def test_any_in_profile_customer_is_scored(client: TestClient, row: dict[str, Any]) -> None:
    assert PROFILE.violations(row) == []
    answer = client.post("/predict", json=row)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert 0.0 <= body["probability"] <= 1.0
    assert body["prediction"] in (0, 1)
    assert body.get("customer_id") == row.get("customer_id")


@PROPERTY
@given(case=one_field_out())
def test_any_single_field_out_of_profile_is_named(client: TestClient, case: tuple[dict[str, Any], str]) -> None:
    row, field = case
    errors = field_errors(client.post("/predict", json=row))
    assert set(errors) == {field}
    spec = PROFILE.features[field]
    if isinstance(spec, CategoricalFeature):
        assert errors[field]["allowed"] == list(spec.allowed)
    else:
        assert errors[field]["valid_range"] == {"min": spec.min, "max": spec.max}

"""The profile's cross-field rules, each broken in both directions, and each honoured in both directions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.profile import CategoricalFeature, Rule
from testkit.customers import customer
from tests.utils.problems import field_errors
from tests.utils.profile import PROFILE

RULES = {rule.name: rule for rule in PROFILE.rules}


def _other(field: str, value: Any) -> Any:
    """A valid value of `field` that is not `value`."""
    spec = PROFILE.features[field]
    if isinstance(spec, CategoricalFeature):
        return next(v for v in spec.allowed if v != value)
    assert value != spec.max
    return spec.max


def _row(rule: Rule, *, when: bool, then: bool) -> dict[str, Any]:
    """The valid customer with the rule's condition set to `when` and its consequence set to `then`."""
    row = customer()
    row[rule.when.field] = rule.when.equals if when else _other(rule.when.field, rule.when.equals)
    then_value = None if rule.then.is_null else rule.then.equals
    row[rule.then.field] = then_value if then else _other(rule.then.field, then_value)
    # Keep every other rule satisfied, so only the rule under test can fail.
    for other in PROFILE.rules:
        if other is not rule and other.when.field == rule.when.field and not other.holds(row):
            row[other.then.field] = row[rule.then.field] if when == then else other.then.equals
    assert [broken.name for broken in PROFILE.violations(row)] == ([] if when == then else [rule.name])
    return row


def test_the_profile_has_the_expected_rules() -> None:
    internet = {f"{name}_needs_internet" for name in (
        "online_security", "online_backup", "device_protection", "tech_support", "streaming_tv", "streaming_movies"
    )}  # fmt: skip
    assert set(RULES) == internet | {"multiple_lines_needs_phone", "total_charges_null_at_zero_tenure"}


@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize(
    ("when", "then"), [(True, False), (False, True)], ids=["when-without-then", "then-without-when"]
)
def test_a_broken_rule_is_refused_naming_the_field_and_rule(
    client: TestClient, name: str, when: bool, then: bool
) -> None:
    rule = RULES[name]
    row = _row(rule, when=when, then=then)
    errors = field_errors(client.post("/predict", json=row))
    assert set(errors) == {rule.then.field}, errors
    error = errors[rule.then.field]
    assert error["rule"] == rule.name
    assert error["message"].startswith(rule.describe())
    for field in rule.fields:  # the values that broke it
        assert f"{field}={row[field]!r}" in error["message"]


@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize(("when", "then"), [(True, True), (False, False)], ids=["both", "neither"])
def test_a_kept_rule_is_accepted(client: TestClient, name: str, when: bool, then: bool) -> None:
    answer = client.post("/predict", json=_row(RULES[name], when=when, then=then))
    assert answer.status_code == 200, answer.text


def test_every_broken_rule_is_listed_at_once(client: TestClient) -> None:
    row = customer(internet_service="No", phone_service="No", multiple_lines="Yes", tenure=0, total_charges=100.0)
    errors = field_errors(client.post("/predict", json=row))
    # online_backup is "Yes" in the sample customer; the other add-ons are "No": all six break with internet "No".
    assert {field: error["rule"] for field, error in errors.items()} == {
        rule.then.field: rule.name for rule in PROFILE.rules
    }

"""Customers: the known-valid one (`customer(**overrides)`), and rows built from the data profile alone — made
consistent with every cross-field rule, or one per category value and range end. Built from the profile, not
the app, so a narrowed app cannot hide a gap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.profile import CategoricalFeature, Condition, DataProfile

Row = dict[str, Any]

VALID_CUSTOMER: Row = {
    "gender": "Female",
    "senior_citizen": 0,
    "partner": "Yes",
    "dependents": "No",
    "tenure": 1,
    "phone_service": "No",
    "multiple_lines": "No phone service",
    "internet_service": "DSL",
    "online_security": "No",
    "online_backup": "Yes",
    "device_protection": "No",
    "tech_support": "No",
    "streaming_tv": "No",
    "streaming_movies": "No",
    "contract": "Month-to-month",
    "paperless_billing": "Yes",
    "payment_method": "Electronic check",
    "monthly_charges": 29.85,
    "total_charges": 29.85,
}


def customer(**overrides: Any) -> Row:
    return {**VALID_CUSTOMER, **overrides}


@dataclass(frozen=True)
class Case:
    field: str
    value: Any
    row: Row

    @property
    def label(self) -> str:
        return f"{self.field}={self.value!r}"


def _other_value(profile: DataProfile, field: str, avoid: Any) -> Any:
    spec = profile.features[field]
    if isinstance(spec, CategoricalFeature):
        return next(value for value in spec.allowed if value != avoid)
    return spec.max if avoid != spec.max else spec.min


def _make(row: Row, condition: Condition, hold: bool, profile: DataProfile) -> None:
    """Change `condition.field` (only if needed) so that the condition holds exactly when `hold`."""
    if condition.holds(row) == hold:
        return
    if condition.is_null:
        row[condition.field] = None if hold else _other_value(profile, condition.field, None)
    else:
        row[condition.field] = condition.equals if hold else _other_value(profile, condition.field, condition.equals)


def consistent(row: Row, profile: DataProfile, pinned: str | None = None) -> Row:
    """`row` adjusted so every rule holds, changing only the fields the rules tie together and never `pinned`
    (the field under test). ValueError when no such row exists, so no check ever sends a wrong row."""
    fixed = dict(row)
    # A pinned dependent field decides its condition field (online_security="No internet service" -> internet "No").
    decided = {pinned}
    for rule in profile.rules:
        if rule.then.field == pinned:
            _make(fixed, rule.when, rule.then.holds(fixed), profile)
            decided.add(rule.when.field)
    # Every other dependent field follows its condition field.
    for rule in profile.rules:
        if rule.then.field not in decided:
            _make(fixed, rule.then, rule.when.holds(fixed), profile)
    broken = profile.violations(fixed)
    if broken:  # the profile's rules are not a simple chain any more: fail loudly, never test a wrong row
        raise ValueError(f"cannot build a consistent row pinning {pinned}: breaks {[rule.name for rule in broken]}")
    return fixed


def base_row(profile: DataProfile) -> Row:
    row: Row = {}
    for name, spec in profile.features.items():
        row[name] = spec.allowed[0] if isinstance(spec, CategoricalFeature) else spec.max
    return consistent(row, profile)


def boundary_cases(profile: DataProfile) -> list[Case]:
    """One case per category value, per range end, and per allowed null."""
    base = base_row(profile)
    cases: list[Case] = []
    for name, spec in profile.features.items():
        values: list[Any] = list(spec.allowed) if isinstance(spec, CategoricalFeature) else [spec.min, spec.max]
        if spec.nullable:
            values.append(None)
        cases.extend(Case(name, value, consistent({**base, name: value}, profile, pinned=name)) for value in values)
    return cases

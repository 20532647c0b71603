"""Valid customers built from the data profile alone: every category value and both ends of every range, each in
a row that keeps every cross-field rule. Built from the profile, not the app, so a narrowed app cannot hide a gap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.profile import CategoricalFeature, Condition, DataProfile

Row = dict[str, Any]


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
    """`row` adjusted so every rule holds, never changing `pinned` (the field under test)."""
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

"""Customer payloads for tests: a known-valid one, and factories that respect the profile's rules."""

from __future__ import annotations

from typing import Any

from service.profile import CategoricalFeature, DataProfile

VALID_CUSTOMER: dict[str, Any] = {
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


def customer(**overrides: Any) -> dict[str, Any]:
    return {**VALID_CUSTOMER, **overrides}


def consistent(row: dict[str, Any], profile: DataProfile) -> dict[str, Any]:
    """Adjust a row so every cross-field rule holds, changing only the rules' dependent fields."""
    fixed = dict(row)
    for rule in profile.rules:
        when = rule.when.holds(fixed)
        then = rule.then
        if then.is_null:
            if when:
                fixed[then.field] = None
            elif fixed[then.field] is None:
                spec = profile.features[then.field]
                fixed[then.field] = getattr(spec, "min", None)
        elif when:
            fixed[then.field] = then.equals
        elif fixed[then.field] == then.equals:
            spec = profile.features[then.field]
            assert isinstance(spec, CategoricalFeature)
            fixed[then.field] = next(value for value in spec.allowed if value != then.equals)
    return fixed

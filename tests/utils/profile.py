"""The real data profile, loaded once at import so tests can be parametrized over its fields."""

from __future__ import annotations

from service.profile import CategoricalFeature, IntegerFeature, NumberFeature, load_profile
from testkit.paths import PROFILE_PATH

PROFILE = load_profile(PROFILE_PATH)[0]

CATEGORICAL = {name: spec for name, spec in PROFILE.features.items() if isinstance(spec, CategoricalFeature)}
INTEGER = {name: spec for name, spec in PROFILE.features.items() if isinstance(spec, IntegerFeature)}
NUMBER = {name: spec for name, spec in PROFILE.features.items() if isinstance(spec, NumberFeature)}
NUMERIC: dict[str, IntegerFeature | NumberFeature] = {**INTEGER, **NUMBER}
NON_NULLABLE = tuple(name for name, spec in PROFILE.features.items() if not spec.nullable)

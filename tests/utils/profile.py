"""The real data profile, loaded once at import so tests can be parametrized over its fields."""

from __future__ import annotations

from pathlib import Path

from service.profile import CategoricalFeature, IntegerFeature, NumberFeature, load_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILE_PATH = ROOT / "data_profile.json"
PROFILE = load_profile(PROFILE_PATH)[0]

CATEGORICAL = {name: spec for name, spec in PROFILE.features.items() if isinstance(spec, CategoricalFeature)}
INTEGER = {name: spec for name, spec in PROFILE.features.items() if isinstance(spec, IntegerFeature)}
NUMBER = {name: spec for name, spec in PROFILE.features.items() if isinstance(spec, NumberFeature)}
NUMERIC: dict[str, IntegerFeature | NumberFeature] = {**INTEGER, **NUMBER}
NON_NULLABLE = tuple(name for name, spec in PROFILE.features.items() if not spec.nullable)

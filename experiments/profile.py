"""Generating `data_profile.json` from the training data: ranges, category sets, cross-field rules."""

from __future__ import annotations

import math
from pathlib import Path

from experiments.data import (
    CATEGORICAL_FEATURES,
    COLUMNS,
    FEATURES,
    INTEGER_FEATURES,
    NUMBER_FEATURES,
    POSITIVE_LABEL,
    TARGET,
    Dataset,
)
from service.profile import (
    PROFILE_FILE,
    CategoricalFeature,
    Condition,
    DataProfile,
    DatasetInfo,
    Feature,
    IntegerFeature,
    NumberFeature,
    Rule,
    TargetInfo,
)

DEFAULT_PROFILE_PATH = PROFILE_FILE
INTERNET_ADDONS = (
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
)

# The domain's consistency rules. Each is stated per field pair (stricter than "all six add-ons
# together"), so an error names the one field that disagrees; profiling proves each holds on every row.
CANDIDATE_RULES: tuple[Rule, ...] = (
    *(
        Rule(
            name=f"{addon}_needs_internet",
            when=Condition(field="internet_service", equals="No"),
            then=Condition(field=addon, equals="No internet service"),
        )
        for addon in INTERNET_ADDONS
    ),
    Rule(
        name="multiple_lines_needs_phone",
        when=Condition(field="phone_service", equals="No"),
        then=Condition(field="multiple_lines", equals="No phone service"),
    ),
    Rule(
        name="total_charges_null_at_zero_tenure",
        when=Condition(field="tenure", equals=0),
        then=Condition(field="total_charges", is_null=True),
    ),
)


class ProfileRuleError(Exception):
    """A declared cross-field rule does not hold on the training data."""


def _feature(dataset: Dataset, name: str) -> Feature:
    column = dataset.frame[name]
    nullable = bool(column.isna().any())
    if name in CATEGORICAL_FEATURES:
        return CategoricalFeature(allowed=tuple(sorted(column.dropna().unique())), nullable=nullable)
    if name in INTEGER_FEATURES:
        return IntegerFeature(min=int(column.min()), max=int(column.max()), nullable=nullable)
    if name in NUMBER_FEATURES:
        return NumberFeature(min=float(column.min()), max=float(column.max()), nullable=nullable)
    raise ValueError(f"feature {name} has no declared type")


def build_profile(dataset: Dataset, rules: tuple[Rule, ...] = CANDIDATE_RULES) -> DataProfile:
    rows = [
        {str(key): (None if isinstance(value, float) and math.isnan(value) else value) for key, value in row.items()}
        for row in dataset.X.to_dict(orient="records")
    ]
    for rule in rules:
        broken = sum(not rule.holds(row) for row in rows)
        if broken:
            raise ProfileRuleError(f"rule {rule.name} ({rule.describe()}) fails on {broken} training rows")
    return DataProfile(
        dataset=DatasetInfo(
            path=dataset.path.as_posix(), sha256=dataset.sha256, rows=len(dataset.frame), columns=len(COLUMNS)
        ),
        target=TargetInfo(name=TARGET, positive_label=POSITIVE_LABEL, positive_rows=int(dataset.y.sum())),
        features={name: _feature(dataset, name) for name in FEATURES},
        rules=rules,
    )


def write_profile(profile: DataProfile, path: Path = DEFAULT_PROFILE_PATH) -> None:
    path.write_text(profile.to_json(), encoding="utf-8")

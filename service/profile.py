"""The training data's profile: the contract every request is validated against.

`data_profile.json` is generated from the training data (`python -m experiments profile`) and read here.
This module only describes and loads it; it never imports the web framework.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PROFILE_FILE = Path("data_profile.json")  # the committed profile, relative to the checkout


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CategoricalFeature(_Frozen):
    type: Literal["categorical"] = "categorical"
    allowed: tuple[str, ...]
    nullable: bool = False


class IntegerFeature(_Frozen):
    type: Literal["integer"] = "integer"
    min: int
    max: int
    nullable: bool = False


class NumberFeature(_Frozen):
    type: Literal["number"] = "number"
    min: float
    max: float
    nullable: bool = False


Feature = Annotated[CategoricalFeature | IntegerFeature | NumberFeature, Field(discriminator="type")]


class Condition(_Frozen):
    """`field == equals`, or `field is null` when `is_null` is true."""

    field: str
    equals: str | int | float | None = None
    is_null: bool = False

    def holds(self, row: Mapping[str, Any]) -> bool:
        value = row[self.field]
        if self.is_null:
            return value is None
        return bool(value == self.equals)

    def describe(self) -> str:
        return f"{self.field} is null" if self.is_null else f"{self.field} == {self.equals!r}"


class Rule(_Frozen):
    """A cross-field rule that held on every training row: `when` is true exactly when `then` is."""

    name: str
    when: Condition
    then: Condition

    @property
    def fields(self) -> tuple[str, str]:
        return (self.when.field, self.then.field)

    def holds(self, row: Mapping[str, Any]) -> bool:
        return self.when.holds(row) == self.then.holds(row)

    def describe(self) -> str:
        return f"{self.when.describe()} exactly when {self.then.describe()}"


class DatasetInfo(_Frozen):
    path: str
    sha256: str
    rows: int
    columns: int


class TargetInfo(_Frozen):
    name: str
    positive_label: str
    positive_rows: int


class DataProfile(_Frozen):
    dataset: DatasetInfo
    target: TargetInfo
    features: dict[str, Feature]
    rules: tuple[Rule, ...]

    def violations(self, row: Mapping[str, Any]) -> list[Rule]:
        """The cross-field rules a (field-valid) row breaks."""
        return [rule for rule in self.rules if not rule.holds(row)]

    def to_json(self) -> str:
        # One canonical serialisation, so the file's hash is stable across regenerations.
        return self.model_dump_json(indent=2) + "\n"


class ProfileError(Exception):
    """The profile file is missing or unreadable: the service cannot validate, so it cannot start."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_profile(path: Path) -> tuple[DataProfile, str]:
    """The profile and the SHA-256 of its file (models are bound to that hash)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read data profile {path}: {exc.strerror}") from exc
    try:
        profile = DataProfile.model_validate_json(raw)
    except ValueError as exc:
        raise ProfileError(f"data profile {path} is not a valid profile: {exc}") from exc
    return profile, hashlib.sha256(raw).hexdigest()

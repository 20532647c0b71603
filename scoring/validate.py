"""The columnar validator: whole columns of text checked with vectorised Arrow kernels, verdicts and
messages identical to the request model's.

It is built from the same profile as the request models, and every message is *asked of* the request
model at construction (`_probe`), never retyped: one definition of each bound, category set and rule,
one wording. Text semantics (there are no JSON types in a CSV cell): a blank cell is null; numeric cells
may carry surrounding spaces (the data set's blank TotalCharges is a single space); categories must match
exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import BaseModel, ValidationError

from experiments.data import ID
from service.errors import FieldError
from service.problems import ValidationErrorFormatter
from service.profile import CategoricalFeature, DataProfile, IntegerFeature
from service.schemas import CROSS_FIELD_ERROR, CUSTOMER_ID_PATTERN, rule_violations

_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_NON_FINITE = r"^[+-]?(nan|inf|infinity)$"

# Per-cell verdicts; every kind except OK maps to one probed message per field.
OK, NULL, TEXT, NON_FINITE, FRACTION, BELOW, ABOVE, UNKNOWN = range(8)


@dataclass
class Checked:
    """One chunk's verdicts: typed columns for the valid rows, every problem for the others."""

    valid: NDArray[np.bool_]
    numbers: dict[str, NDArray[np.float64]]  # NaN for null
    codes: dict[str, NDArray[np.int64]]  # index into the profile's `allowed`
    text: dict[str, pa.Array]
    kinds: dict[str, NDArray[np.int8]]  # per field, the verdict of each cell (OK, NULL, ..., UNKNOWN)
    errors: dict[int, list[FieldError]] = field(default_factory=dict)  # row index in the chunk -> problems


class ColumnarValidator:
    def __init__(self, profile: DataProfile, customer: type[BaseModel]) -> None:
        self.profile = profile
        self.customer = customer
        self.formatter = ValidationErrorFormatter(profile)
        self.messages: dict[str, dict[int, FieldError]] = {}
        for name, spec in profile.features.items():
            if isinstance(spec, CategoricalFeature):
                self.messages[name] = {UNKNOWN: self._probe(name, "\x00not a category")}
                continue
            below = spec.min - 1 if isinstance(spec, IntegerFeature) else math.nextafter(spec.min, -math.inf)
            above = spec.max + 1 if isinstance(spec, IntegerFeature) else math.nextafter(spec.max, math.inf)
            self.messages[name] = {
                TEXT: self._probe(name, "not a number"), NON_FINITE: self._probe(name, math.nan),
                BELOW: self._probe(name, below), ABOVE: self._probe(name, above),
            }  # fmt: skip
            if not spec.nullable:
                self.messages[name][NULL] = self._probe(name, None)
            if isinstance(spec, IntegerFeature):
                self.messages[name][FRACTION] = self._probe(name, 0.5)
        self.messages[ID] = {UNKNOWN: self._probe(ID, "\x00")}
        self._allowed = {
            name: pa.array(spec.allowed, pa.string())
            for name, spec in profile.features.items()
            if isinstance(spec, CategoricalFeature)
        }

    def _probe(self, name: str, value: Any) -> FieldError:
        """The request model's own problem for `value` in field `name` (other fields absent, so ignored)."""
        try:
            self.customer.model_validate({name: value})
        except ValidationError as exc:
            mine = [error for error in exc.errors() if tuple(error["loc"]) == (name,)]
            if mine:
                return self.formatter.format(mine)[0]
        raise AssertionError(f"the request model accepts {value!r} for {name}")  # pragma: no cover - profile bug

    def _numeric(self, name: str, text: pa.Array, kinds: NDArray[np.int8]) -> NDArray[np.float64]:
        spec = self.profile.features[name]
        assert not isinstance(spec, CategoricalFeature)  # noqa: S101 - callers pass numeric names
        stripped = pc.utf8_trim_whitespace(text)
        blank = np.asarray(pc.equal(stripped, ""), dtype=bool)
        number = np.asarray(pc.match_substring_regex(stripped, _NUMBER), dtype=bool)
        values = np.full(len(text), np.nan)
        if number.any():
            parsed = pc.cast(pc.filter(stripped, pa.array(number)), pa.float64())
            values[number] = np.asarray(parsed, dtype=np.float64)
        non_finite = np.asarray(pc.match_substring_regex(stripped, _NON_FINITE, ignore_case=True), dtype=bool)
        non_finite |= number & ~np.isfinite(values)  # 1e999 overflows to infinity, as JSON does
        kinds[~(number | blank)] = TEXT
        kinds[non_finite] = NON_FINITE
        if not spec.nullable:
            kinds[blank] = NULL
        finite = number & ~non_finite
        if isinstance(spec, IntegerFeature):
            kinds[finite & (values != np.floor(values))] = FRACTION
        checked = finite & (kinds == OK)
        kinds[checked & (values < spec.min)] = BELOW
        kinds[checked & (values > spec.max)] = ABOVE
        return values

    def check(self, columns: Mapping[str, pa.Array]) -> Checked:
        rows = len(next(iter(columns.values())))
        kinds = {name: np.zeros(rows, dtype=np.int8) for name in (*self.profile.features, ID)}
        numbers: dict[str, NDArray[np.float64]] = {}
        codes: dict[str, NDArray[np.int64]] = {}
        for name, spec in self.profile.features.items():
            if isinstance(spec, CategoricalFeature):
                index = pc.index_in(columns[name], value_set=self._allowed[name])
                kinds[name][np.asarray(pc.is_null(index), dtype=bool)] = UNKNOWN
                codes[name] = np.asarray(index.fill_null(0), dtype=np.int64)
            else:
                numbers[name] = self._numeric(name, columns[name], kinds[name])
        if ID in columns:
            ids = columns[ID]
            bad = ~np.asarray(pc.match_substring_regex(ids, CUSTOMER_ID_PATTERN), dtype=bool)
            kinds[ID][bad & ~np.asarray(pc.equal(ids, ""), dtype=bool)] = UNKNOWN  # blank = no id, as in the API
        field_bad = np.zeros(rows, dtype=bool)
        for verdicts in kinds.values():
            field_bad |= verdicts != OK
        rule_bad = np.zeros(rows, dtype=bool)
        for rule in self.profile.rules:
            rule_bad |= self._holds(rule.when, columns, numbers) != self._holds(rule.then, columns, numbers)
        rule_bad &= ~field_bad
        checked = Checked(~(field_bad | rule_bad), numbers, codes, dict(columns), kinds)
        for row in np.flatnonzero(field_bad).tolist():
            checked.errors[row] = [self.messages[n][int(k[row])] for n, k in kinds.items() if k[row] != OK]
        for row in np.flatnonzero(rule_bad).tolist():
            checked.errors[row] = self._rule_errors(row, columns, numbers)
        return checked

    def _holds(self, condition: Any, columns: Mapping[str, pa.Array], numbers: Mapping[str, Any]) -> NDArray[np.bool_]:
        if condition.field in numbers:
            values = numbers[condition.field]
            return np.isnan(values) if condition.is_null else np.asarray(values == condition.equals)
        if condition.is_null:  # categorical cells are never null
            return np.zeros(len(columns[condition.field]), dtype=bool)
        return np.asarray(pc.equal(columns[condition.field], condition.equals), dtype=bool)

    def _rule_errors(self, row: int, columns: Mapping[str, pa.Array], numbers: Mapping[str, Any]) -> list[FieldError]:
        typed = self.typed_row(row, columns, numbers)
        broken = rule_violations(self.profile, typed)
        return self.formatter.format([{"loc": (), "type": CROSS_FIELD_ERROR, "ctx": {"violations": broken}}])

    def typed_row(self, row: int, columns: Mapping[str, pa.Array], numbers: Mapping[str, Any]) -> dict[str, Any]:
        """The values the request model would hold for a field-valid row (int, float, None, str)."""
        typed: dict[str, Any] = {}
        for name, spec in self.profile.features.items():
            if name in numbers:
                value = float(numbers[name][row])
                typed[name] = None if math.isnan(value) else (int(value) if isinstance(spec, IntegerFeature) else value)
            else:
                typed[name] = columns[name][row].as_py()
        return typed

"""The columnar validator: whole columns of text checked with vectorised Arrow kernels, for the verdict.

It is built from the same profile as the request models and gives the same verdict; every message comes
from the one request validator (`service.validation.Validator.row_problems`), asked about the rejected
rows only, so the words are the API's own and nothing is retyped. Text semantics (there are no JSON types
in a CSV cell): a blank cell is null, a numeric cell may carry surrounding spaces (the data set's blank
TotalCharges is a single space) and is read as the JSON number it spells, categories must match exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from experiments.columns import ID
from service.errors import FieldError
from service.profile import CategoricalFeature, IntegerFeature
from service.schemas import CUSTOMER_ID_PATTERN
from service.validation import Validator

NUMBER_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INTEGER = re.compile(r"[+-]?\d+")
_NON_FINITE = r"^[+-]?(nan|inf|infinity)$"
# The columnar check refused a row the request validator accepts: a defect, named rather than hidden.
DISAGREEMENT = FieldError(field="row", message="refused by the columnar check but not by the request validator")

# Per-cell verdicts.
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


def json_value(text: str | None, numeric: bool) -> Any:
    """The JSON value a cell spells, as the request validator would receive it."""
    if text is None:
        return None
    if not numeric:
        return text
    stripped = text.strip()
    if not stripped:
        return None
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if re.fullmatch(NUMBER_PATTERN, stripped) or re.fullmatch(_NON_FINITE, stripped, re.IGNORECASE):
        return float(stripped)  # Python's float() also takes "1_000": only the spellings the check takes
    return stripped  # not a number: the request validator names it


class ColumnarValidator:
    def __init__(self, validator: Validator) -> None:
        self.validator = validator
        self.profile = validator.profile
        self._allowed = {
            name: pa.array(spec.allowed, pa.string())
            for name, spec in self.profile.features.items()
            if isinstance(spec, CategoricalFeature)
        }

    @staticmethod
    def _codes(column: pa.Array, allowed: pa.Array) -> NDArray[np.int64]:
        """Each cell's index in `allowed`, -1 if it is not there. A dictionary column (the CSV reader's) is
        looked up once per distinct value."""
        if isinstance(column, pa.DictionaryArray):
            known = np.asarray(pc.index_in(column.dictionary, value_set=allowed).fill_null(-1), dtype=np.int64)
            return known[np.asarray(column.indices, dtype=np.int64)]
        return np.asarray(pc.index_in(column, value_set=allowed).fill_null(-1), dtype=np.int64)

    def _numeric(self, name: str, text: pa.Array, kinds: NDArray[np.int8]) -> NDArray[np.float64]:
        spec = self.profile.features[name]
        assert not isinstance(spec, CategoricalFeature)  # noqa: S101 - callers pass numeric names
        stripped = pc.utf8_trim_whitespace(text)
        blank_cells = pc.equal(stripped, "")
        blank = np.asarray(blank_cells, dtype=bool)
        try:
            # Fast path: every non-blank cell is a number to Arrow. Arrow's finite spellings are all NUMBER_PATTERN's
            # (a test holds it to that); what it reads as NaN or infinity is refused below, as the regex would.
            cast = pc.cast(pc.if_else(blank_cells, pa.scalar(None, pa.string()), stripped), pa.float64())
        except pa.ArrowInvalid:  # some cell is text: tell the spellings apart one regex at a time
            number = np.asarray(pc.match_substring_regex(stripped, NUMBER_PATTERN), dtype=bool)
            values = np.full(len(text), np.nan)
            if number.any():
                parsed = pc.cast(pc.filter(stripped, pa.array(number)), pa.float64())
                values[number] = np.asarray(parsed, dtype=np.float64)
            non_finite = np.asarray(pc.match_substring_regex(stripped, _NON_FINITE, ignore_case=True), dtype=bool)
        else:
            values = np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)
            number = ~blank
            non_finite = np.zeros(len(text), dtype=bool)
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
                found = self._codes(columns[name], self._allowed[name])
                kinds[name][found < 0] = UNKNOWN
                codes[name] = np.maximum(found, 0)
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
            rule_bad |= self._holds(rule.when, codes, numbers) != self._holds(rule.then, codes, numbers)
        rule_bad &= ~field_bad
        checked = Checked(~(field_bad | rule_bad), numbers, codes, dict(columns), kinds)
        for row in np.flatnonzero(field_bad | rule_bad).tolist():
            checked.errors[row] = self.validator.row_problems(self.raw_row(row, columns)) or [DISAGREEMENT]
        return checked

    def raw_row(self, row: int, columns: Mapping[str, pa.Array]) -> dict[str, Any]:
        """Row `row` as the JSON object a client would send (a blank customer_id is no id)."""
        raw = {
            name: json_value(columns[name][row].as_py(), not isinstance(spec, CategoricalFeature))
            for name, spec in self.profile.features.items()
        }
        if ID in columns and (customer_id := columns[ID][row].as_py()):
            raw[ID] = customer_id
        return raw

    def _holds(self, condition: Any, codes: Mapping[str, Any], numbers: Mapping[str, Any]) -> NDArray[np.bool_]:
        if condition.field in numbers:
            values = numbers[condition.field]
            return np.isnan(values) if condition.is_null else np.asarray(values == condition.equals)
        allowed = self.profile.features[condition.field]
        assert isinstance(allowed, CategoricalFeature)  # noqa: S101 - a field is numeric or categorical
        if condition.is_null or condition.equals not in allowed.allowed:  # categorical cells are never null
            return np.zeros(len(codes[condition.field]), dtype=bool)
        return np.asarray(codes[condition.field] == allowed.allowed.index(condition.equals))

"""A vectorised check of a JSON batch body: all valid (and here it is as columns), or "ask the request
model". Only the first answer is final.

The request model stays the one definition of validity and of every message: a body this check does not
accept (any row with a problem, or anything unusual) goes through the model row by row, which names each
problem. What it accepts, the model accepts too, and a test holds it to that on every contract case:
- `{"customers": [...]}` and nothing else, each row an object of exactly the profile's fields
  (`customer_id` optional), decoded by msgspec into typed rows built from the same profile;
- integers: JSON integers or whole floats (never booleans); numbers: integers or finite floats; both
  within the training range; null only where the profile allows it;
- categories: one of the training categories, exactly (a Literal, as in the request model); ids: the
  request model's pattern;
- every cross-field rule, vectorised.
msgspec decodes straight into typed rows, no dict per row and no new string per category (a Literal's
value is its own object): 10,000 rows in ~6 ms where orjson's dicts took ~22 ms; the columns follow in
~9 ms (measured on this 2-core machine).
"""

from __future__ import annotations

import operator
import re
from typing import Any, Literal

import msgspec
import numpy as np
from numpy.typing import NDArray

from service.profile import CategoricalFeature, Condition, DataProfile, IntegerFeature
from service.schemas import CUSTOMER_ID_PATTERN

_ID = "customer_id"
_id_pattern = re.compile(CUSTOMER_ID_PATTERN)
Columns = dict[str, NDArray[Any]]


def _row_type(profile: DataProfile) -> type[msgspec.Struct]:
    """One typed row per profiled feature: the Literal of its categories, int | float for an integer (18.0
    is one, as JSON Schema says: checked per column), float for a number; each `| None` where nullable."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, spec in profile.features.items():
        kind: Any = float
        if isinstance(spec, CategoricalFeature):
            kind = Literal[spec.allowed]  # a tuple subscript spreads into Literal["a", "b", ...]
        elif isinstance(spec, IntegerFeature):
            kind = int | float
        fields.append((name, kind | None if spec.nullable else kind))
    fields.append((_ID, str | None, None))
    # gc=False: rows hold only scalars, so the collector need not track 10,000 of them.
    return msgspec.defstruct("Row", fields, forbid_unknown_fields=True, gc=False)


class FastCheck:
    def __init__(self, profile: DataProfile, max_batch: int) -> None:
        self.profile = profile
        self.max_batch = max_batch
        row = _row_type(profile)
        envelope = msgspec.defstruct("Envelope", [("customers", list[row])], forbid_unknown_fields=True)  # type: ignore[valid-type]
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(envelope)
        self._getters = [operator.attrgetter(name) for name in profile.features]
        self._id = operator.attrgetter(_ID)
        self._index = {
            name: {value: i for i, value in enumerate(spec.allowed)}
            for name, spec in profile.features.items()
            if isinstance(spec, CategoricalFeature)
        }

    def batch(self, body: bytes | memoryview) -> tuple[Columns, list[str | None]] | None:
        """The batch's columns (numbers float64, NaN for null; a category as its index in `allowed`) and
        ids when every row is valid; None when the request model must judge the body."""
        try:
            rows = self._decoder.decode(body).customers
        except msgspec.MsgspecError:  # not JSON, not the envelope, a row of the wrong shape or types
            return None
        if not 1 <= len(rows) <= self.max_batch:
            return None
        ids: list[str | None] = list(map(self._id, rows))
        if not all(map(_id_pattern.fullmatch, [v for v in ids if v is not None])):
            return None  # fullmatch, as the model: `$` would let "ok\n" through
        columns = self._columns(rows)
        if columns is None:
            return None
        rules = self.profile.rules
        holds = all(np.array_equal(self._holds(r.when, columns), self._holds(r.then, columns)) for r in rules)
        return (columns, ids) if holds else None

    def _columns(self, rows: list[Any]) -> Columns | None:
        # A column at a time, in C (map, attrgetter, fromiter): a Python loop per cell would cost ~60 ms.
        columns: Columns = {}
        for (name, spec), getter in zip(self.profile.features.items(), self._getters, strict=True):
            if isinstance(spec, CategoricalFeature):
                # Each value's index in the profile's `allowed`; the row type admitted only those.
                columns[name] = np.fromiter(map(self._index[name].__getitem__, map(getter, rows)), np.int64, len(rows))
                continue
            column = self._numbers(list(map(getter, rows)), isinstance(spec, IntegerFeature))
            if column is None:
                return None
            present = column[~np.isnan(column)]
            if present.size and (present.min() < spec.min or present.max() > spec.max):
                return None
            columns[name] = column
        return columns

    @staticmethod
    def _numbers(values: list[int | float | None], integer: bool) -> NDArray[np.float64] | None:
        """The column as float64 (NaN for null); None for an integer beyond any float (10**400: the model
        judges it) or, in an integer column, a fraction. The row type already refused the rest: a null where
        none is allowed, booleans, strings; and JSON has no NaN or infinity (msgspec refuses a float literal
        beyond float64)."""
        try:
            column = np.array(values, dtype=np.float64)  # None becomes NaN
        except OverflowError:
            return None
        if integer:
            present = column[~np.isnan(column)]
            if not np.array_equal(present, np.floor(present)):
                return None  # 18.5 is not an integer
            column += 0.0  # -0.0 is the integer 0 to the model: the same bits
        return column

    def _holds(self, condition: Condition, columns: Columns) -> NDArray[np.bool_]:
        column = columns[condition.field]
        spec = self.profile.features[condition.field]
        if isinstance(spec, CategoricalFeature):
            if condition.is_null:
                return np.zeros(column.size, dtype=bool)
            code = self._index[condition.field].get(condition.equals)  # type: ignore[arg-type]
            return np.asarray(column == (-1 if code is None else code))
        return np.isnan(column) if condition.is_null else np.asarray(column == condition.equals)

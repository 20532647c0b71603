"""A vectorised check of a batch of parsed JSON rows: all valid (and here they are as columns), or "ask
the request model". Only the first answer is final.

The request model stays the one definition of validity and of every message: a batch this check does not
accept (any row with a problem, or anything unusual) goes through the model row by row, which names each
problem. What it accepts, the model accepts too, and a test holds it to that on every contract case:
- exactly the profile's fields (`customer_id` optional), each row a JSON object;
- integers: JSON integers (never booleans) or whole floats; numbers: integers or finite floats; both
  within the training range; null only where the profile allows it;
- categories: one of the training categories, exactly;
- every cross-field rule, vectorised.
Measured: 31 ms for 10,000 valid rows on a busy 2-core machine, where the request model took ~90 ms.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.profile import CategoricalFeature, Condition, DataProfile, IntegerFeature
from service.schemas import CUSTOMER_ID_PATTERN

_ID = "customer_id"
_id_pattern = re.compile(CUSTOMER_ID_PATTERN)


_ABSENT = object()


def _id_of(row: dict[str, Any]) -> Any:
    return row.get(_ID, _ABSENT)


class FastCheck:
    def __init__(self, profile: DataProfile, known: frozenset[str]) -> None:
        self.profile = profile
        self.known = known
        self.required = frozenset(profile.features)
        self.names = tuple(profile.features)
        self._getters = [operator.itemgetter(name) for name in self.names]
        self._index = {
            name: {value: i for i, value in enumerate(spec.allowed)}
            for name, spec in profile.features.items()
            if isinstance(spec, CategoricalFeature)
        }

    def columns(self, rows: Sequence[Any]) -> dict[str, NDArray[Any]] | None:
        """The rows as columns (numbers float64, NaN for null; a category as its index in `allowed`) when
        every one is valid; None when the request model must judge them."""
        # Everything per row stays in C (map, itemgetter, set): a Python loop per cell would cost ~60 ms.
        cells = self._cells(rows)
        columns = None if cells is None or not cells else self._columns(cells)
        if columns is None:
            return None
        rules = self.profile.rules
        holds = all(np.array_equal(self._holds(r.when, columns), self._holds(r.then, columns)) for r in rules)
        return columns if holds else None

    def _cells(self, rows: Sequence[Any]) -> list[list[Any]] | None:
        """Each feature's values, if every row is an object of exactly the known keys with a valid id."""
        if set(map(type, rows)) != {dict}:
            return None
        width = len(self.names)
        ids = list(map(_id_of, rows))
        with_id = len(ids) - ids.count(_ABSENT)  # customer_id present, null or not
        lengths = list(map(len, rows))
        if lengths.count(width) + lengths.count(width + 1) != len(rows) or lengths.count(width + 1) > with_id:
            return None  # a key too many: unknown, unless it is customer_id
        if with_id and not all(type(v) is str and _id_pattern.fullmatch(v) for v in ids if v not in (None, _ABSENT)):
            return None
        try:
            return [list(map(getter, rows)) for getter in self._getters]  # a column at a time: 8 ms, not 26
        except KeyError:
            return None  # a required field missing

    def _columns(self, cells: list[list[Any]]) -> dict[str, NDArray[Any]] | None:
        columns: dict[str, NDArray[Any]] = {}
        for (name, spec), values in zip(self.profile.features.items(), cells, strict=True):
            if isinstance(spec, CategoricalFeature):
                codes = self._categories(name, values)
                if codes is None:
                    return None
                columns[name] = codes
                continue
            column = self._numbers(values, spec.nullable, isinstance(spec, IntegerFeature))
            if column is None:
                return None
            present = column[~np.isnan(column)]
            if present.size and (present.min() < spec.min or present.max() > spec.max):
                return None
            columns[name] = column
        return columns

    def _categories(self, name: str, values: list[Any]) -> NDArray[np.int64] | None:
        """Each value's index in the profile's `allowed`, if every one is a training category."""
        try:
            return np.fromiter(map(self._index[name].__getitem__, values), np.int64, len(values))
        except (KeyError, TypeError):  # not a training category (or unhashable: a list, an object)
            return None

    @staticmethod
    def _numbers(values: list[Any], nullable: bool, integer: bool) -> NDArray[np.float64] | None:
        """The column as float64 (NaN for null), or None if any value is not what the model takes."""
        kinds = set(map(type, values))
        if not kinds <= ({int, float, type(None)} if nullable else {int, float}):
            return None  # a string, a boolean (type(True) is bool, not int), a list...
        try:
            column = np.array(values, dtype=np.float64)  # None becomes NaN
        except OverflowError:  # an integer beyond any float (10**400): the model judges it
            return None
        missing = np.isnan(column)
        # A NaN or infinity in the body (the stdlib parser reads them) is refused; only null may be missing.
        if np.count_nonzero(missing) != values.count(None) or np.isinf(column).any():
            return None
        if integer and float in kinds and not np.array_equal(column[~missing], np.floor(column[~missing])):
            return None  # 18.5 is not an integer (18.0 is, as JSON Schema says)
        return column

    def _holds(self, condition: Condition, columns: dict[str, NDArray[Any]]) -> NDArray[np.bool_]:
        column = columns[condition.field]
        spec = self.profile.features[condition.field]
        if isinstance(spec, CategoricalFeature):
            if condition.is_null:
                return np.zeros(column.size, dtype=bool)
            code = self._index[condition.field].get(condition.equals)  # type: ignore[arg-type]
            return np.asarray(column == (-1 if code is None else code))
        return np.isnan(column) if condition.is_null else np.asarray(column == condition.equals)

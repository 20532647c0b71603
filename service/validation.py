"""The one validator: raw request bytes in, validated customers out, or every problem (bounded) as a 422.

Plain Python, no web framework, so the data plane can run it in a worker thread: a hostile body costs
that thread, never the event loop. Bounds, so no body within the size limit can cost without limit:

- JSON values: at most what the largest batch can hold (`value_budget`); a body with more is refused
  before it is parsed into Python values (`json.loads` holds the GIL, 0.4 s for 8 MiB of `0,`). A batch
  body is first decoded into typed rows (`FastCheck`), which stops at the first value of the wrong type and
  builds nothing else: a valid batch is never refused for its count of `,` and `:`.
- problems: at most `PER_ROW` listed per row and `PER_ANSWER` per answer; the rest are counted.
- unknown keys are set aside before pydantic sees a row, so 200,000 of them cost one pass, not 200,000 errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from service.errors import ContentTooLarge, FieldError, InvalidInput, MalformedRequest, clip
from service.fast_check import FastCheck
from service.profile import CategoricalFeature, DataProfile

MAX_BATCH = 10_000  # customers in one JSON batch by default (CHURN_MAX_BATCH)
PER_ROW = 100
PER_ANSWER = 1000
CHUNK = 500  # rows validated per pydantic call on the fast path: a few milliseconds of GIL each


def field_path(prefix: str, loc: Sequence[int | str]) -> str:
    """('customers', 3, 'tenure') -> 'customers[3].tenure'; names are clipped (they are client input)."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{clip(part)}" if path else clip(part))
    return path or "body"


def metric_field(path: str, features: Collection[str]) -> str:
    """`customers[3].tenure` -> `tenure`; anything not a profiled feature -> `other` (bounded label values)."""
    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return leaf if leaf in features else "other"


class _Problems:
    """Collects problems up to the bounds and counts every one."""

    def __init__(self) -> None:
        self.listed: list[FieldError] = []
        self.total = 0
        self._row_listed = 0

    def new_row(self) -> None:
        self._row_listed = 0

    def add(self, entry: FieldError) -> None:
        self.total += 1
        if self._row_listed < PER_ROW and len(self.listed) < PER_ANSWER:
            self.listed.append(entry)
            self._row_listed += 1

    @property
    def room(self) -> bool:
        return self._row_listed < PER_ROW and len(self.listed) < PER_ANSWER

    def count(self, n: int) -> None:
        self.total += n


@dataclass(frozen=True)
class Batch:
    """A validated batch: each feature as a column (numbers float64 with NaN for null; a category as its
    index in the profile's `allowed`), and each row's customer_id. Compact enough to cross processes."""

    columns: dict[str, NDArray[Any]]
    ids: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)


class Validator:
    def __init__(self, profile: DataProfile, customer: type[BaseModel], max_batch: int) -> None:
        self.profile = profile
        self.customer = customer
        self.max_batch = max_batch
        self.known = frozenset(customer.model_fields)
        self._rows = TypeAdapter(list[customer])  # type: ignore[valid-type]
        self._envelope = create_model(
            "Envelope",
            __config__=ConfigDict(extra="forbid"),
            customers=(list[Any], Field(min_length=1, max_length=max_batch)),
        )
        self._fast = FastCheck(profile, max_batch)
        # Separators in a full batch of full rows, with room for whitespace-free extras: the most a valid body needs.
        self.value_budget = (max_batch + 1) * (len(self.known) + 2) * 2 + 64

    def parse(self, body: bytes) -> Any:
        """The body's JSON value; 400 if it is not UTF-8 JSON, 413 if it holds more values than any valid body."""
        values = body.count(b",") + body.count(b":")
        if values > self.value_budget:
            raise ContentTooLarge(
                f"the body holds about {values} JSON values, more than a batch of {self.max_batch} customers can"
            )
        try:
            return orjson.loads(body)  # 2-3x faster; anything it refuses gets the stdlib's reading and words
        except orjson.JSONDecodeError:
            pass
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest(f"the body is not UTF-8: invalid byte at position {exc.start}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedRequest(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None
        except RecursionError:
            raise MalformedRequest("the body is not valid JSON for this service: nested too deeply") from None

    def customer_rows(self, body: bytes) -> list[dict[str, Any]]:
        """One customer (`/predict`)."""
        problems = _Problems()
        row = self._row(self._document(body), "", problems)
        return self._verdict([row], problems)

    def batch(self, body: bytes | memoryview) -> Batch:
        """`{"customers": [...]}` (`/predict/batch`), every row validated, as columns in request order.

        A body the vectorised check accepts is valid as it stands; any other is parsed and goes through the
        request model row by row, which accepts it or names every problem."""
        fast = self._fast.batch(body)
        if fast is not None:
            return Batch(*fast)
        problems = _Problems()
        envelope, _ = self._check(self._envelope, self._document(bytes(body)), "", problems, frozenset({"customers"}))
        if envelope is None:
            raise InvalidInput(problems.listed, problems.total)
        return self.to_batch(self.rows(envelope["customers"], "customers", problems))

    def to_batch(self, rows: Sequence[Mapping[str, Any]]) -> Batch:
        """Validated rows as columns: numbers as float64 (NaN for null), a category as its index in `allowed`."""
        columns: dict[str, NDArray[Any]] = {}
        for name, spec in self.profile.features.items():
            if isinstance(spec, CategoricalFeature):
                index = {value: i for i, value in enumerate(spec.allowed)}
                columns[name] = np.array([index[row[name]] for row in rows], dtype=np.int64)
            else:
                columns[name] = np.array([math.nan if row[name] is None else row[name] for row in rows], np.float64)
        return Batch(columns, [row.get("customer_id") for row in rows])

    def rows(self, raw: Sequence[Any], prefix: str, problems: _Problems | None = None) -> list[dict[str, Any]]:
        """Validate rows (parsed JSON objects), naming each by `prefix[i]`; InvalidInput lists the problems."""
        problems = problems or _Problems()
        validated: list[dict[str, Any] | None] = []
        for start in range(0, len(raw), CHUNK):
            chunk = raw[start : start + CHUNK]
            # Fast path: a chunk of rows with only known keys, in one pydantic call.
            if problems.total == 0 and all(isinstance(r, dict) and r.keys() <= self.known for r in chunk):
                try:
                    models = self._rows.validate_python(chunk)
                except ValidationError:
                    pass
                else:
                    rows = [dict(vars(model)) for model in models]
                    if not any(self.profile.violations(row) for row in rows):
                        validated.extend(rows)
                        continue
            for offset, row in enumerate(chunk):
                validated.append(self._row(row, f"{prefix}[{start + offset}]", problems))
        return self._verdict(validated, problems)

    def row_problems(self, raw: Mapping[str, Any]) -> list[FieldError]:
        """Every problem of one row, fields named without a prefix (`tenure`): the columnar paths' messages."""
        problems = _Problems()
        self._row(dict(raw), "", problems)
        return problems.listed

    def _document(self, body: bytes) -> Any:
        if not body.strip():
            raise InvalidInput([FieldError(field="body", message="field required")], 1)
        return self.parse(body)

    @staticmethod
    def _verdict(rows: list[dict[str, Any] | None], problems: _Problems) -> list[dict[str, Any]]:
        if problems.total:
            raise InvalidInput(problems.listed, problems.total)
        return [row for row in rows if row is not None]

    def _row(self, raw: Any, prefix: str, problems: _Problems) -> dict[str, Any] | None:
        row, bad = self._check(self.customer, raw, prefix, problems, self.known)
        if not isinstance(raw, dict):
            return row
        # Cross-field rules are judged whenever both of their fields are themselves valid, so a 422 lists
        # a broken rule beside an out-of-range field instead of hiding it.
        values = row if row is not None else raw
        for rule in self.profile.rules:
            if any(f in bad or f not in values for f in rule.fields) or rule.holds(values):
                continue
            got = ", ".join(f"{field}={values[field]!r}" for field in rule.fields)
            problems.add(
                FieldError(
                    field=field_path(prefix, [rule.then.field]), message=f"{rule.describe()}; got {got}", rule=rule.name
                )
            )
            row = None
        return row

    def _check(
        self, model: type[BaseModel], raw: Any, prefix: str, problems: _Problems, known: frozenset[str]
    ) -> tuple[dict[str, Any] | None, set[str]]:
        """`raw` validated by `model` (None if not) and the fields found invalid; unknown keys set aside first."""
        problems.new_row()
        bad: set[str] = set()
        clean = raw
        if isinstance(raw, dict) and not raw.keys() <= known:
            clean = {key: value for key, value in raw.items() if key in known}
            for key in raw:
                if key not in known:
                    if problems.room:
                        problems.add(FieldError(field=field_path(prefix, [key]), message="unknown field"))
                    else:
                        problems.count(1)
        try:
            return dict(vars(model.model_validate(clean))), bad
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            for error in errors:
                loc = tuple(error["loc"])
                if loc and isinstance(loc[0], str):
                    bad.add(loc[0])
                if problems.room:
                    problems.add(self._entry(prefix, loc, error))
                else:
                    problems.count(1)
            return None, bad

    def _entry(self, prefix: str, loc: tuple[int | str, ...], error: Mapping[str, Any]) -> FieldError:
        path = field_path(prefix, loc)
        message = "field required" if error["type"] == "missing" else str(error["msg"])
        spec = self.profile.features.get(loc[-1]) if loc and isinstance(loc[-1], str) else None
        if isinstance(spec, CategoricalFeature):
            return FieldError(field=path, message=message, allowed=list(spec.allowed))
        if spec is not None:
            return FieldError(field=path, message=message, valid_range={"min": spec.min, "max": spec.max})
        return FieldError(field=path, message=message)

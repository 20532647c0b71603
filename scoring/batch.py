"""A CSV batch for `POST /predict/batch` (text/csv): the JSON batch's contract, columnar.

Same header rules as the weekly command (either header style, extra columns ignored); the whole batch is
refused if any row is invalid, with every bad row named as `customers[i].field` like the JSON batch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from experiments.columns import ID
from scoring.header import Header, UnusableInput
from scoring.read import csv_names, parse_csv
from scoring.weekly import Scorer
from service.errors import FieldError, InvalidInput, MalformedRequest
from service.validation import PER_ANSWER


@dataclass(frozen=True)
class CsvBatch:
    customer_ids: pa.StringArray  # null where the row had none
    probabilities: NDArray[np.float64]
    predictions: NDArray[np.int8]
    model_version: str
    columns: dict[str, NDArray[Any]] = field(default_factory=dict)  # the validated rows, as Batch.columns

    def to_csv(self) -> bytes:
        table = pa.table(
            {
                "customer_id": self.customer_ids,
                "probability": pa.array(self.probabilities),
                "prediction": pa.array(self.predictions),
                "model_version": pa.repeat(pa.scalar(self.model_version, pa.string()), len(self.customer_ids)),
            }
        )
        sink = io.BytesIO()
        pa_csv.write_csv(table, sink)
        return sink.getvalue()


def score_csv_batch(scorer: Scorer, body: bytes, max_batch: int) -> CsvBatch:
    """Raises MalformedRequest (400) for a body that is not CSV, InvalidInput (422) for bad rows."""
    header_end = body.find(b"\n")
    first, rest = (body, b"") if header_end < 0 else (body[: header_end + 1], body[header_end + 1 :])
    try:
        names = csv_names(first, "the CSV body")
        header = Header.resolve(names, tuple(scorer.profile.features), id_required=False)
    except UnusableInput as exc:
        raise InvalidInput([FieldError(field="header", message=str(exc))], 1) from exc
    if rest and not rest.endswith(b"\n"):
        rest += b"\n"
    try:
        chunk = parse_csv(rest, 2, names, header.source, scorer.categorical)
    except pa.ArrowException as exc:
        raise MalformedRequest(f"the body is not valid CSV: {exc}") from exc
    rows = len(chunk.lines) + len(chunk.malformed)
    if rows == 0 or rows > max_batch:
        message = f"between 1 and {max_batch} rows per batch; got {rows}"
        raise InvalidInput([FieldError(field="customers", message=message)], 1)
    columns = dict(chunk.columns)
    if ID not in columns:
        columns[ID] = pa.array([""] * len(chunk.lines), pa.string())
    checked = scorer.validator.check(columns)
    errors = [
        FieldError(**{**problem.model_dump(), "field": f"customers[{int(chunk.lines[row]) - 2}].{problem.field}"})
        for row, problems in sorted(checked.errors.items())
        for problem in problems
    ]
    errors += [
        FieldError(field=f"customers[{m.line - 2}]", message=f"expected {m.expected} fields, found {m.actual}")
        for m in chunk.malformed
    ]
    if errors:
        ordered = sorted(errors, key=lambda e: int(e.field[10:].split("]", 1)[0]))
        raise InvalidInput(ordered[:PER_ANSWER], len(ordered))  # listed as the JSON batch lists them
    model = scorer.model
    matrix = model.encoder.encode_columns(
        {**checked.numbers, **{n: scorer.code_maps[n][c] for n, c in checked.codes.items()}}
    )
    probabilities = model.encoder.score(matrix)
    ids = pc.if_else(pc.equal(columns[ID], ""), pa.scalar(None, pa.string()), columns[ID])
    predictions = (probabilities >= model.manifest.threshold).astype(np.int8)
    return CsvBatch(ids, probabilities, predictions, model.version, {**checked.numbers, **checked.codes})

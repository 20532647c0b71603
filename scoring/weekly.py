"""The weekly list: validate, score, explain and rank an export of any size, chunk by chunk.

Memory is bounded by the chunk, not the file: each chunk's scored rows are sorted and spilled to a
temporary Arrow file (a "run"); only the probabilities and run numbers of all rows stay in memory, and the
final list is a k-way merge of the runs, read back sequentially. Ranking is exact: probability from highest
to lowest, ties in input order.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from experiments.columns import ID
from scoring.drift import NOT_AVAILABLE, DriftAccumulator
from scoring.explain import REASONS, Explainer
from scoring.header import Header, UnusableInput
from scoring.parallel import WORKERS, in_order
from scoring.read import CHUNK_BYTES, Chunk, ExportReader
from scoring.runs import Runs, Selection, duplicates, merge
from scoring.validate import ABOVE, BELOW, ColumnarValidator
from service.errors import FieldError
from service.model_store import LoadedModel
from service.profile import CategoricalFeature
from service.validation import Validator

AT_RISK, REJECTED, SUMMARY = "at_risk.csv", "rejected.csv", "summary.json"
NO_ID = FieldError(field=ID, message="a blank customer_id cannot be listed: the list is for phoning")


class Scorer:
    """One model's validator, encoder and explainer; reused for every chunk (and by the HTTP route)."""

    def __init__(self, validator: Validator, model: LoadedModel) -> None:
        self.profile = profile = validator.profile
        self.model = model
        self.validator = ColumnarValidator(validator)
        self.explainer = Explainer(model.encoder, model.reference, profile)
        # profile code -> encoder code for each categorical (the two orders need not agree)
        self.categorical = frozenset(n for n, s in profile.features.items() if isinstance(s, CategoricalFeature))
        self.code_maps = model.encoder.code_maps(
            {n: s.allowed for n, s in profile.features.items() if isinstance(s, CategoricalFeature)}
        )

    def score(self, chunk: Chunk) -> tuple[pa.Table, list[tuple[int, str | None, list[FieldError]]], Any]:
        """(scored rows, in input order: `Runs` sorts them; rejected rows; the validator's verdicts)."""
        checked = self.validator.check(chunk.columns)
        ids = chunk.columns[ID]
        blank = np.asarray(pc.equal(ids, ""), dtype=bool) & checked.valid
        for row in np.flatnonzero(blank).tolist():
            checked.errors[row] = [NO_ID]
        valid = checked.valid & ~blank
        rejected = [(int(chunk.lines[row]), ids[row].as_py() or None, checked.errors[row]) for row in checked.errors]
        rejected += [(m.line, None, [_malformed(m.expected, m.actual)]) for m in chunk.malformed]
        mask = pa.array(valid)
        numbers = {n: v[valid] for n, v in checked.numbers.items()}
        codes = {n: c[valid] for n, c in checked.codes.items()}  # the profile's order of categories
        matrix = self.model.encoder.encode_columns(numbers | {n: self.code_maps[n][c] for n, c in codes.items()})
        probabilities = self.model.encoder.score(matrix)
        table = pa.table(
            {
                "line": pa.array(chunk.lines[valid]),
                "customer_id": pc.filter(ids, mask),
                "probability": pa.array(probabilities),
                "prediction": pa.array((probabilities >= self.model.manifest.threshold).astype(np.int8)),
                **self.explainer.reasons(matrix, numbers | codes),
            }
        )
        checked.valid = valid
        return table, sorted(rejected, key=lambda r: r[0]), checked


def _duplicate(first: int) -> FieldError:
    return FieldError(field=ID, message=f"duplicate of line {first}: only the first occurrence is listed")


def _malformed(expected: int, actual: int) -> FieldError:
    return FieldError(field="row", message=f"expected {expected} fields, found {actual}")


Rejected = tuple[int, str | None, list[FieldError]]
OK, OVER_LIMIT, UNUSABLE = 0, 3, 2


@dataclass(frozen=True)
class Outcome:
    summary: dict[str, Any]
    exit_status: int


class RejectedWriter:
    """rejected.csv: line, customer_id, problem_count, problems (the API's 422 `errors` entries, as JSON)."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(["line", "customer_id", "problem_count", "problems"])
        self.rows = 0
        self.fields: Counter[str] = Counter()

    def write(self, rows: list[Rejected]) -> None:
        for line, customer_id, problems in rows:
            entries = [problem.model_dump(exclude_none=True) for problem in problems]
            self.writer.writerow([line, customer_id or "", len(entries), json.dumps(entries, separators=(",", ":"))])
            self.fields.update({entry["field"] for entry in entries})
        self.rows += len(rows)

    def close(self) -> None:
        self.handle.close()


def run_weekly(
    input_path: Path, out_dir: Path, scorer: Scorer, *, selection: Selection | None = None,
    max_rejected_share: float = 0.01, chunk_bytes: int = CHUNK_BYTES,
) -> Outcome:  # fmt: skip
    """Write at_risk.csv, rejected.csv and summary.json into `out_dir`. Raises UnusableInput (exit 2)."""
    started = time.perf_counter()
    selection = selection or Selection()
    reader = ExportReader(input_path, chunk_bytes)
    header = Header.resolve(reader.names, tuple(scorer.profile.features))
    out_dir.mkdir(parents=True, exist_ok=True)
    model = scorer.model
    drift = DriftAccumulator(scorer.profile, model.reference) if model.reference is not None else None
    reasons: Counter[str] = Counter()
    read = 0
    rejected = RejectedWriter(out_dir / REJECTED)
    spill = Path(tempfile.mkdtemp(prefix=".runs-", dir=out_dir))
    try:
        runs = Runs(spill)
        # The reader parses on this thread while WORKERS threads score the chunks already read (pyarrow and
        # numpy release the GIL in their kernels): both cores stay busy, results are taken in input order.
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="score") as pool:
            for chunk, (table, bad, checked) in in_order(
                pool, scorer.score, reader.chunks(header.source, scorer.categorical), WORKERS + 1
            ):
                read += len(chunk.lines) + len(chunk.malformed)
                rejected.write(bad)
                if table.num_rows:
                    runs.add(table)
                if drift is not None:
                    valid = checked.valid
                    drift.add(
                        {n: v[valid] for n, v in checked.numbers.items()},
                        {n: c[valid] for n, c in checked.codes.items()},
                    )
                    for name, kinds in checked.kinds.items():
                        if name in drift.beyond:
                            drift.add_beyond(name, int(np.count_nonzero((kinds == BELOW) | (kinds == ABOVE))))
                for k in range(1, REASONS + 1):
                    if f"reason_{k}" in table.column_names:
                        counted = pc.value_counts(table.column(f"reason_{k}").drop_null())
                        values, counts = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
                        reasons.update(dict(zip(values, counts, strict=True)))
            if read == 0:
                raise UnusableInput(f"{input_path}: the header is there but there are no rows")
            runs.flush()
            later = duplicates(runs)
            rejected.write([(line, customer, [_duplicate(first)]) for line, (first, customer) in sorted(later.items())])
            merged = merge(runs, set(later), out_dir / AT_RISK, selection)
    finally:
        rejected.close()
        shutil.rmtree(spill, ignore_errors=True)
    scored = read - rejected.rows
    share = rejected.rows / read
    status = OK if share <= max_rejected_share else OVER_LIMIT
    manifest = model.manifest
    summary: dict[str, Any] = {
        "input": {"name": input_path.name, "sha256": reader.sha256, "format": reader.format,
                  "extra_columns": list(header.extra)},
        "rows": {"read": read, "scored": scored, "rejected": rejected.rows, "duplicates": len(later),
                 "listed": merged.listed},
        "rejected_share": round(share, 6),
        "max_rejected_share": max_rejected_share,
        "rejected_fields": dict(rejected.fields.most_common()),
        "selection": {"top": selection.top, "min_probability": selection.min_probability},
        "model": {"version": manifest.version, "estimator": manifest.estimator,
                  "model_sha256": manifest.model_sha256, "profile_sha256": manifest.profile_sha256,
                  "data_sha256": manifest.data_sha256, "reference_sha256": manifest.reference_sha256,
                  "encoder_sha256": manifest.encoder_sha256,
                  "mlflow_run_id": manifest.mlflow_run_id},
        "threshold": manifest.threshold,
        "bands": merged.bands,
        "risk_histogram": {"bin_width": 1 / len(merged.histogram), "counts": merged.histogram},
        "reasons": {"available": scorer.explainer.available, "why_not": scorer.explainer.why_not,
                    "most_common": dict(reasons.most_common(10))},
        "drift": drift.result(rejected.rows) if drift is not None else NOT_AVAILABLE,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "exit_status": status,
    }  # fmt: skip
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return Outcome(summary, status)

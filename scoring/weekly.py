"""The weekly list: validate, score, explain and rank an export of any size, chunk by chunk.

Two halves, shared by both engines (this machine's threads, `run_weekly`; a Spark cluster's partitions,
`scoring.spark`): `score_chunk` turns a chunk of the export into its scored rows, its rejected rows and its
drift counts; an `Assembly` takes those, in input order, and writes the list, the rejected rows and the
summary. Memory is bounded by the chunk, not the file: scored rows are sorted and spilled to temporary Arrow
files ("runs") and the list is their exact k-way merge. Ranking is exact: probability from highest to
lowest, ties in input order.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from experiments.columns import ID
from scoring.drift import NOT_AVAILABLE, DriftAccumulator, DriftState
from scoring.explain import Explainer
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

    def score(
        self, chunk: Chunk
    ) -> tuple[pa.Table, list[tuple[int, str | None, list[FieldError]]], Any, dict[str, int]]:
        """(scored rows, in input order: `Runs` sorts them; rejected rows; the validator's verdicts; how often
        each reason is given)."""
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
        reasons = self.explainer.reasons(matrix, numbers | codes)
        table = pa.table(
            {
                "line": pa.array(chunk.lines[valid]),
                "customer_id": pc.filter(ids, mask),
                "probability": pa.array(probabilities),
                "prediction": pa.array((probabilities >= self.model.manifest.threshold).astype(np.int8)),
                **reasons.columns,
            }
        )
        checked.valid = valid
        return table, sorted(rejected, key=lambda r: r[0]), checked, reasons.counts


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


@dataclass(frozen=True)
class Scored:
    """One chunk, scored: the unit both engines hand to the `Assembly`."""

    table: pa.Table  # scored rows, input order
    rejected: list[Rejected]  # by line
    read: int  # rows read (scored + rejected, malformed lines included)
    drift: DriftState | None  # the chunk's drift counts; None when the model has no reference
    reasons: dict[str, int]  # how often each reason is given, over the chunk's three slots


def score_chunk(scorer: Scorer, chunk: Chunk) -> Scored:
    table, rejected, checked, reasons = scorer.score(chunk)
    drift = None
    if scorer.model.reference is not None:
        counts = DriftAccumulator(scorer.profile, scorer.model.reference)
        valid = checked.valid
        counts.add({n: v[valid] for n, v in checked.numbers.items()}, {n: c[valid] for n, c in checked.codes.items()})
        for name, kinds in checked.kinds.items():
            if name in counts.beyond:
                counts.add_beyond(name, int(np.count_nonzero((kinds == BELOW) | (kinds == ABOVE))))
        drift = counts.state()
    return Scored(table, rejected, len(chunk.lines) + len(chunk.malformed), drift, reasons)


@dataclass(frozen=True)
class Source:
    """What the summary says of the input."""

    name: str
    sha256: str | None  # None: not readable from this machine (a lake path read by Spark only)
    format: str  # "csv" or "parquet"
    extra_columns: tuple[str, ...]
    engine: dict[str, Any] = field(default_factory=lambda: {"name": "local"})  # and what the engine says of itself


class Assembly:
    """The list being made: rejected rows written as they come, scored rows spilled as sorted runs, drift and
    reason counts summed. Add in input order (ties keep it); `finish` writes the list and the summary."""

    def __init__(self, out_dir: Path, scorer: Scorer) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.scorer = scorer
        reference = scorer.model.reference
        self.drift = DriftAccumulator(scorer.profile, reference) if reference is not None else None
        self.reasons: Counter[str] = Counter()
        self.read = 0
        self.rejected = RejectedWriter(out_dir / REJECTED)
        self.spill = Path(tempfile.mkdtemp(prefix=".runs-", dir=out_dir))
        self.runs = Runs(self.spill)

    def __enter__(self) -> Assembly:
        return self

    def __exit__(self, *_: object) -> None:
        self.rejected.close()
        shutil.rmtree(self.spill, ignore_errors=True)

    def add(self, scored: Scored) -> None:
        self.add_rejected(scored.rejected)
        self.add_scored(scored.table)
        self.add_counts(scored.read, scored.drift, scored.reasons)

    def add_rejected(self, rows: list[Rejected]) -> None:
        self.rejected.write(rows)

    def add_scored(self, table: pa.Table) -> None:
        if table.num_rows:
            self.runs.add(table)

    def add_counts(self, read: int, drift: DriftState | None, reasons: dict[str, int]) -> None:
        self.read += read
        self.reasons.update(reasons)
        if self.drift is not None and drift is not None:
            self.drift.add_state(drift)

    def finish(self, source: Source, selection: Selection, max_rejected_share: float, started: float) -> Outcome:
        """Raises UnusableInput when nothing was read."""
        if self.read == 0:
            raise UnusableInput(f"{source.name}: the header is there but there are no rows")
        self.runs.flush()
        later = duplicates(self.runs)
        self.rejected.write([(line, who, [_duplicate(first)]) for line, (first, who) in sorted(later.items())])
        merged = merge(self.runs, set(later), self.out_dir / AT_RISK, selection)
        self.rejected.close()
        read, rejected = self.read, self.rejected.rows
        share = rejected / read
        status = OK if share <= max_rejected_share else OVER_LIMIT
        manifest = self.scorer.model.manifest
        explainer = self.scorer.explainer
        summary: dict[str, Any] = {
            "input": {"name": source.name, "sha256": source.sha256, "format": source.format,
                      "extra_columns": list(source.extra_columns)},
            "engine": source.engine,
            "rows": {"read": read, "scored": read - rejected, "rejected": rejected, "duplicates": len(later),
                     "listed": merged.listed},
            "rejected_share": round(share, 6),
            "max_rejected_share": max_rejected_share,
            "rejected_fields": dict(self.rejected.fields.most_common()),
            "selection": {"top": selection.top, "min_probability": selection.min_probability},
            "model": {"version": manifest.version, "estimator": manifest.estimator,
                      "model_sha256": manifest.model_sha256, "profile_sha256": manifest.profile_sha256,
                      "data_sha256": manifest.data_sha256, "reference_sha256": manifest.reference_sha256,
                      "encoder_sha256": manifest.encoder_sha256,
                      "mlflow_run_id": manifest.mlflow_run_id},
            "threshold": manifest.threshold,
            "bands": merged.bands,
            "risk_histogram": {"bin_width": 1 / len(merged.histogram), "counts": merged.histogram},
            "reasons": {"available": explainer.available, "why_not": explainer.why_not,
                        "most_common": dict(self.reasons.most_common(10))},
            "drift": self.drift.result(rejected) if self.drift is not None else NOT_AVAILABLE,
            "wall_seconds": round(time.perf_counter() - started, 3),
            "exit_status": status,
        }  # fmt: skip
        (self.out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return Outcome(summary, status)


class Engine(Protocol):
    """What makes the full ranking of an export: `run_weekly` on this machine, `scoring.spark.SparkEngine`."""

    def __call__(
        self, input_path: Path | str, out_dir: Path, scorer: Scorer, *, max_rejected_share: float = 0.01
    ) -> Outcome: ...


def run_weekly(
    input_path: Path | str, out_dir: Path, scorer: Scorer, *, selection: Selection | None = None,
    max_rejected_share: float = 0.01, chunk_bytes: int = CHUNK_BYTES,
) -> Outcome:  # fmt: skip
    """Write at_risk.csv, rejected.csv and summary.json into `out_dir`, on this machine's cores. Raises
    UnusableInput (exit 2)."""
    started = time.perf_counter()
    input_path = Path(input_path)
    reader = ExportReader(input_path, chunk_bytes)
    header = Header.resolve(reader.names, tuple(scorer.profile.features))
    with Assembly(out_dir, scorer) as assembly:
        # The reader parses on this thread while WORKERS threads score the chunks already read (pyarrow and
        # numpy release the GIL in their kernels): both cores stay busy, results are taken in input order.
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="score") as pool:
            chunks = reader.chunks(header.source, scorer.categorical)
            for _, scored in in_order(pool, lambda chunk: score_chunk(scorer, chunk), chunks, WORKERS + 1):
                assembly.add(scored)
        source = Source(input_path.name, reader.sha256, reader.format, header.extra)
        return assembly.finish(source, selection or Selection(), max_rejected_share, started)

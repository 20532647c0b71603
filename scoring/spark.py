"""The weekly list on Spark: `python -m scoring weekly --engine spark [--master URL] INPUT`.

Spark does the per-row work where the data lives; nothing of it is re-implemented here:
- each partition's rows are cut into chunks and handed to the same `score_chunk` as the local engine (the
  same validator, scorer, explainer and drift counts), through `mapInArrow`;
- a chunk's scored rows, rejected rows (with their messages) and counts come back as one tagged Arrow table,
  written by Spark's own committed writer to a staging directory;
- the driver reads the blocks back in input order into the same `Assembly` that writes the local engine's
  list, duplicates, bands and summary: the outputs are the local engine's, row for row.

Lines are exact without a sequential pass: Spark counts the rows of every input block (file, byte offset of
the split), the driver turns the counts into each block's first line, and a partition numbers its rows from
there. A CSV export is one file (its header is line 1); Parquet may be a file or a folder of parts, numbered
as their concatenation in name order.

The driver must see the staging directory (local disk for a local master; a shared mount on a cluster), and
the executors need the lock installed (e.g. a packed venv in `spark.archives`); the model directory and this
project's code are shipped with the job.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoring.explain import REASONS
from scoring.header import Header, UnusableInput
from scoring.read import Chunk, csv_names, is_parquet_file, parquet_chunk, parse_csv, sha256_of
from scoring.runs import Selection
from scoring.weekly import Assembly, Outcome, Rejected, Scored, Scorer, Source, score_chunk
from service.errors import FieldError
from service.model_store import load_model_dir
from service.profile import DataProfile
from service.schemas import build_customer_model
from service.validation import Validator

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ROOT = Path(__file__).resolve().parent.parent
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
PACKAGES = ("scoring", "service", "experiments")  # what an executor imports to run `score_chunk`
SCORED, REJECTED, COUNTS = 0, 1, 2  # the kinds of row a partition answers
BLOCK, FILE, START = "_block", "_file", "_start"
# The partition's answer; reasons as plain text (Spark has no dictionary type).
_FIELDS: list[tuple[str, pa.DataType]] = [
    ("kind", pa.int8()),
    (BLOCK, pa.int32()),
    ("line", pa.int64()),
    ("customer_id", pa.string()),
    ("probability", pa.float64()),
    ("prediction", pa.int8()),
    *((name, kind) for k in range(1, REASONS + 1) for name, kind in ((f"reason_{k}", pa.string()),
                                                                     (f"reason_{k}_logit", pa.float64()))),
    ("problems", pa.string()),  # REJECTED: the API's 422 entries, as JSON
    ("counts", pa.string()),  # COUNTS: {"read": n, "drift": DriftState | null, "reasons": {...}}, as JSON
]  # fmt: skip
ANSWER = pa.schema(_FIELDS)
SCORED_COLUMNS = [name for name, _ in _FIELDS[2:-2]]
ROWS_PER_BATCH = 16384  # Arrow batch size into `mapInArrow`: about the local engine's chunk (~17k rows)
PARTITION_BYTES = 32 << 20  # input split size: ~230k rows a task at 1M rows, enough tasks for local[2]


class SparkUnavailable(Exception):
    """Spark could not start (no Java, a master that does not answer): one line for the command to print."""


@contextlib.contextmanager
def _arrow_only() -> Iterator[None]:
    """PySpark warns that it does not fully support pandas 3 wherever pandas might be used; this engine hands
    Spark Arrow batches only (`mapInArrow`), never a pandas object, so the warning does not apply here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        yield


def session(
    master: str, app: str = "churnguard-weekly", partition_bytes: int = PARTITION_BYTES, java_options: str = ""
) -> SparkSession:
    """A Spark session for the command; a local master listens on 127.0.0.1 only and has no UI. `java_options`
    are added to the driver JVM's (the tests' short-lived session starts it without the optimising compiler)."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 - the JVM and py4j only when the engine is chosen

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter (local masters)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the JVM binds loopback, not the host's address
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ROWS_PER_BATCH))
        .config("spark.sql.files.maxPartitionBytes", str(partition_bytes))
        .config("spark.sql.shuffle.partitions", "4")  # only the block counts are shuffled: a few rows
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()} {java_options}")
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    from pyspark.errors import PySparkException  # noqa: PLC0415

    try:
        with _arrow_only():
            spark = builder.getOrCreate()
    except PySparkException as exc:
        raise SparkUnavailable(f"Spark could not start on {master}: {_first_line(exc)}") from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextlib.contextmanager
def spark_engine(master: str, staging: Path | None = None) -> Iterator[SparkEngine]:
    """The engine on `master`; stops the session afterwards unless it was running before (a caller's)."""
    from pyspark.sql import SparkSession  # noqa: PLC0415

    running = SparkSession.getActiveSession()
    spark = session(master)
    try:
        yield SparkEngine(spark, staging)
    finally:
        if running is None:
            spark.stop()


@dataclass(frozen=True)
class _Job:
    """What a partition needs to rebuild the driver's scorer and number its rows; pickled to every task."""

    model_files: dict[str, bytes]  # the model directory, verified again on the executor
    model_key: str
    profile: DataProfile
    profile_sha256: str
    max_batch: int
    csv: bool
    names: list[str]  # the CSV header's columns (Parquet: unused)
    source: dict[str, str]  # field -> input column
    categorical: frozenset[str]
    first_lines: dict[tuple[str, int], tuple[int, int]]  # (file, split start) -> (block index, first line)


_SCORERS: dict[str, Scorer] = {}  # one per Python worker and model: workers are reused across tasks


def _scorer(job: _Job) -> Scorer:
    scorer = _SCORERS.get(job.model_key)
    if scorer is None:
        directory = Path(tempfile.mkdtemp(prefix="churnguard-model-"))
        for name, data in job.model_files.items():
            (directory / name).write_bytes(data)
        try:
            model = load_model_dir(directory, job.profile_sha256, tuple(job.profile.features), from_plan=True)
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # scored from the plan, in memory: the files are done
        validator = Validator(job.profile, build_customer_model(job.profile), job.max_batch)
        scorer = _SCORERS[job.model_key] = Scorer(validator, model)
    return scorer


def _runs_of_blocks(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """Consecutive rows of one input block (a task reads its blocks one after the other)."""
    if batch.num_rows == 0:
        return
    files, starts = batch.column(FILE), batch.column(START)
    changed = pc.or_(
        pc.not_equal(files.slice(1), files.slice(0, len(files) - 1)),
        pc.not_equal(starts.slice(1), starts.slice(0, len(starts) - 1)),
    )  # by Arrow kernels: a Python comparison per row cost about a third of a second a million rows
    edges = [0, *(np.flatnonzero(np.asarray(changed, dtype=bool)) + 1).tolist(), batch.num_rows]
    for begin, end in itertools.pairwise(edges):
        yield batch.slice(begin, end - begin)


def _answer(scored: Scored, block: int) -> pa.RecordBatch:
    """One chunk's answer: its scored rows, then its rejected rows, then one row of counts."""
    table, rejected = scored.table, scored.rejected
    n, m = table.num_rows, len(rejected)

    def column(name: str, kind: pa.DataType, scored_part: pa.Array | None, rejected_part: list[Any] | None,
               counts_part: Any = None) -> pa.Array:  # fmt: skip
        return pa.concat_arrays([
            scored_part.cast(kind) if scored_part is not None else pa.nulls(n, kind),
            pa.array(rejected_part, kind) if rejected_part is not None else pa.nulls(m, kind),
            pa.array([counts_part], kind),
        ])  # fmt: skip

    own = {name: table.column(name).combine_chunks() for name in table.column_names}
    kinds = np.repeat(np.array([SCORED, REJECTED, COUNTS], np.int8), [n, m, 1])
    columns = {"kind": pa.array(kinds), BLOCK: pa.array(np.full(n + m + 1, block, np.int32))}
    for name, kind in _FIELDS[2:]:
        if name == "line":
            columns[name] = column(name, kind, own["line"], [r[0] for r in rejected])
        elif name == "customer_id":
            columns[name] = column(name, kind, own[name], [r[1] for r in rejected])
        elif name == "problems":
            entries = [json.dumps([p.model_dump(exclude_none=True) for p in r[2]]) for r in rejected]
            columns[name] = column(name, kind, None, entries)
        elif name == "counts":
            counts = {"read": scored.read, "drift": scored.drift, "reasons": scored.reasons}
            columns[name] = column(name, kind, None, None, json.dumps(counts))
        else:
            columns[name] = column(name, kind, own.get(name), None)
    return pa.RecordBatch.from_pydict(columns, schema=ANSWER)


def _partition(job: _Job) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = _scorer(job)
        seen: dict[tuple[str, int], int] = {}  # rows of each block already numbered
        for batch in batches:
            for piece in _runs_of_blocks(batch):
                key = (piece.column(FILE)[0].as_py(), int(piece.column(START)[0].as_py()))
                block, first = job.first_lines[key]
                first += seen.get(key, 0)
                seen[key] = seen.get(key, 0) + piece.num_rows
                yield _answer(score_chunk(scorer, _chunk(job, piece, first)), block)

    return score


def _chunk(job: _Job, piece: pa.RecordBatch, first: int) -> Chunk:
    if not job.csv:
        return parquet_chunk(piece, first, job.source)
    lines = piece.column("value")
    if first == 1:  # the header
        lines, first = lines.slice(1), 2
    if len(lines) == 0:  # a block of the header alone
        return Chunk({f: pa.array([], pa.string()) for f in job.source}, np.empty(0, dtype=np.int64))
    data = "\n".join(lines.to_pylist()).encode() + b"\n"
    return parse_csv(data, first, job.names, job.source, job.categorical)


def _code_zip(directory: Path) -> Path:
    """This project's packages, for the executors' `sys.path` (`SparkContext.addPyFile`)."""
    path = directory / "churnguard.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in PACKAGES:
            for file in sorted((ROOT / package).rglob("*.py")):
                archive.write(file, file.relative_to(ROOT).as_posix())
    return path


def _is_parquet(location: str) -> bool:
    local = Path(location)
    if local.is_dir():
        return True
    if local.is_file():
        return is_parquet_file(local)
    return location.rstrip("/").endswith(".parquet")


class SparkEngine:
    """`run_weekly`'s counterpart on a Spark session (the `ListJob.engine` for `--engine spark`)."""

    def __init__(self, spark: SparkSession, staging: Path | None = None) -> None:
        self.spark = spark
        self.staging = staging

    def __call__(
        self, input_path: str | Path, out_dir: Path, scorer: Scorer, *, selection: Selection | None = None,
        max_rejected_share: float = 0.01,
    ) -> Outcome:  # fmt: skip
        from py4j.protocol import Py4JJavaError  # noqa: PLC0415
        from pyspark.errors import PySparkException  # noqa: PLC0415

        started = time.perf_counter()
        location = str(input_path)
        out_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".spark-", dir=self.staging or out_dir)).resolve()
        try:
            frame, job, extra = self._prepare(location, scorer, work)
            counted = time.perf_counter()
            self._partitions(frame, job, work / "answers")
            scored = time.perf_counter()
            with Assembly(out_dir, scorer) as assembly:
                self._collect(work / "answers", assembly)
                # Where the time went: Spark's two passes (they scale with executors) and the driver's read of the
                # staged answers (it does not); the rest of the list's wall time is the merge, as on one machine.
                seconds = {"count_blocks": counted - started, "partitions": scored - counted,
                           "staged_read": time.perf_counter() - scored}  # fmt: skip
                engine = {"name": "spark", "master": self.spark.sparkContext.master,
                          "seconds": {k: round(v, 3) for k, v in seconds.items()}}  # fmt: skip
                local = Path(location)
                source = Source(location.rstrip("/").rsplit("/", 1)[-1], sha256_of(local) if local.is_file() else None,
                                "csv" if job.csv else "parquet", extra, engine)  # fmt: skip
                return assembly.finish(source, selection or Selection(), max_rejected_share, started)
        except (PySparkException, Py4JJavaError) as exc:
            raise UnusableInput(f"{location}: Spark could not read or score it ({_first_line(exc)})") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _prepare(self, location: str, scorer: Scorer, work: Path) -> tuple[DataFrame, _Job, tuple[str, ...]]:
        """The frame to score, the partitions' job, and the ignored columns; counts every block's rows."""
        from pyspark.sql import functions as F  # noqa: N812, PLC0415

        spark = self.spark
        csv = not _is_parquet(location)
        if csv:
            frame = spark.read.text(location)
            if len(frame.inputFiles()) != 1:
                raise UnusableInput(f"{location}: a CSV export is read as one file; a folder of parts must be Parquet")
            first = frame.first()
            if first is None:
                raise UnusableInput(f"{location}: the file is empty; expected the header")
            names = csv_names(str(first[0]).encode(), location)
        else:
            frame = spark.read.parquet(location)
            names = list(frame.columns)
        header = Header.resolve(names, tuple(scorer.profile.features))
        if not csv:
            frame = frame.select(*(F.col(f"`{c}`") for c in header.source.values()))
        frame = frame.select("*", F.input_file_name().alias(FILE), F.input_file_block_start().alias(START))
        counted = frame.groupBy(FILE, START).count().collect()
        first_lines: dict[tuple[str, int], tuple[int, int]] = {}
        line = 1
        for index, row in enumerate(sorted(counted, key=lambda r: (r[FILE], r[START]))):
            first_lines[(row[FILE], int(row[START]))] = (index, line)
            line += int(row["count"])
        model = scorer.model
        directory = model.model_path.parent
        job = _Job(
            model_files={p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()},
            model_key=f"{model.manifest.model_sha256}:{directory}",
            profile=scorer.profile,
            profile_sha256=model.manifest.profile_sha256,
            max_batch=scorer.validator.validator.max_batch,
            csv=csv,
            names=names,
            source=header.source,
            categorical=scorer.categorical,
            first_lines=first_lines,
        )
        spark.sparkContext.addPyFile(str(_code_zip(work)))
        return frame, job, header.extra

    def _partitions(self, frame: DataFrame, job: _Job, answers: Path) -> None:
        """Score every partition; Spark's committed writer stages the answers, one file per task."""
        from pyspark.sql.pandas.types import from_arrow_schema  # noqa: PLC0415
        from pyspark.sql.types import StructType  # noqa: PLC0415

        schema: StructType = from_arrow_schema(ANSWER)
        with _arrow_only():
            scored = frame.mapInArrow(_partition(job), schema)
        # Not `partitionBy(BLOCK)`: it sorts every task's rows first (measured: 9.5 s against 3.8 s at 1M rows).
        scored.write.parquet(answers.as_uri())

    def _collect(self, answers: Path, assembly: Assembly) -> None:
        # The local engine's scored table has no reason columns when the estimator cannot be explained.
        explained = assembly.scorer.explainer.available
        kept = [c for c in SCORED_COLUMNS if explained or not c.startswith("reason_")]
        # Every block was read by one task, so its answer is in one file, in the task's order (the writer keeps it:
        # nothing sorts or buckets). Which files hold which blocks: their block column alone, a few bytes.
        files: dict[int, list[Path]] = {}
        for part in sorted(answers.glob("*.parquet")):
            for block in pc.unique(pq.read_table(part, columns=[BLOCK]).column(BLOCK)).to_pylist():
                files.setdefault(block, []).append(part)
        for block in sorted(files):  # input order; one block's answer in memory at a time (bounded by the split)
            table = pa.concat_tables(pq.read_table(part, filters=[(BLOCK, "==", block)]) for part in files[block])
            kinds = table.column("kind")
            for state in pc.filter(table.column("counts"), pc.equal(kinds, COUNTS)).to_pylist():
                counts = json.loads(state)
                assembly.add_counts(counts["read"], counts["drift"], counts["reasons"])
            assembly.add_rejected(_rejected(table.filter(pc.equal(kinds, REJECTED))))
            assembly.add_scored(table.filter(pc.equal(kinds, SCORED)).select(kept))


def _rejected(rows: pa.Table) -> list[Rejected]:
    return [
        (line, customer, [FieldError(**entry) for entry in json.loads(problems)])
        for line, customer, problems in zip(
            rows.column("line").to_pylist(), rows.column("customer_id").to_pylist(),
            rows.column("problems").to_pylist(), strict=True,
        )
    ]  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__

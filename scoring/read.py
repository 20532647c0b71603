"""Reading the export in chunks of bounded size, CSV or Parquet, with the input line of every row.

pyarrow reads both (see the README's "The weekly list" for the measurement behind the choice). A CSV is
streamed block by block (`open_csv`), so memory is bounded by the block size, on one thread: the scoring
threads have the other core, and a single-threaded parse reports the line number of every malformed row.
Every row's line is known exactly: quoted newlines are not part of the export format (pyarrow refuses
them unless told otherwise), and blank lines are kept as (invalid) rows, so nothing shifts. The SHA-256 of
the file is computed on a thread of its own while the file is parsed.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from scoring.header import UnusableInput

PARQUET_MAGIC = b"PAR1"
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
# ~17k rows; the chunk bounds memory: at 1M rows, peak RSS 338-341 MB against 450-478 MB at 4 MiB, same CPU.
CHUNK_BYTES = 2 << 20


@dataclass(frozen=True)
class Malformed:
    """A line that is not a row of the header's width: rejected whole."""

    line: int
    text: str
    expected: int
    actual: int


@dataclass
class Chunk:
    columns: dict[str, pa.Array]  # field -> text (a blank cell is "")
    lines: NDArray[np.int64]  # input line of each row (CSV: the header is line 1; Parquet: the row number)
    malformed: list[Malformed] = field(default_factory=list)


class ExportReader:
    """Iterate `chunks()`; afterwards `sha256` is the digest of the whole input file."""

    def __init__(self, path: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = path
        self.chunk_bytes = chunk_bytes
        self.sha256 = ""
        try:
            self.parquet = is_parquet_file(path)
        except OSError as exc:
            raise UnusableInput(f"cannot read {path}: {exc.strerror}") from exc
        self.format = "parquet" if self.parquet else "csv"
        self.names = self._parquet_names() if self.parquet else self._csv_names()

    def _csv_names(self) -> list[str]:
        with self.path.open("rb") as handle:
            return csv_names(handle.readline(), str(self.path))

    def _parquet_names(self) -> list[str]:
        try:
            return list(pq.ParquetFile(self.path).schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise UnusableInput(f"{self.path}: not a readable Parquet file ({exc})") from exc

    def chunks(self, source: dict[str, str], dictionary: Collection[str] = ()) -> Iterator[Chunk]:
        """Chunks holding the columns `source` names (field -> input column); a CSV's `dictionary` fields
        come dictionary-encoded."""
        try:
            yield from self._parquet_chunks(source) if self.parquet else self._csv_chunks(source, dictionary)
        except pa.ArrowException as exc:
            raise UnusableInput(f"{self.path}: cannot be parsed ({exc})") from exc

    def _parquet_chunks(self, source: dict[str, str]) -> Iterator[Chunk]:
        self.sha256 = sha256_of(self.path)
        start = 1
        batch_rows = max(1, self.chunk_bytes // 120)
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=batch_rows, columns=list(source.values())):
            yield parquet_chunk(batch, start, source)
            start += batch.num_rows

    def _csv_chunks(self, source: dict[str, str], dictionary: Collection[str]) -> Iterator[Chunk]:
        with ThreadPoolExecutor(max_workers=1) as hashing:
            digest = hashing.submit(sha256_of, self.path)
            malformed: list[Malformed] = []

            def on_invalid(row: pa_csv.InvalidRow) -> str:
                malformed.append(Malformed(row.number, row.text, row.expected_columns, row.actual_columns))
                return "skip"

            reader = pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=self.chunk_bytes),
                parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
                convert_options=_text_columns(source, dictionary),
            )
            first = 2  # the header is line 1
            skipped = np.empty(0, dtype=np.int64)
            for batch in reader:
                if malformed:
                    skipped = np.union1d(skipped, [m.line for m in malformed])
                lines = _kept_lines(first, batch.num_rows, skipped)
                if batch.num_rows:
                    first = int(lines[-1]) + 1
                columns = {f: batch.column(c) for f, c in source.items()}
                yield Chunk(columns, lines, [m for m in malformed if m.line < first])
                malformed[:] = [m for m in malformed if m.line >= first]
            if malformed:  # malformed lines after the last kept row
                yield Chunk({f: pa.array([], pa.string()) for f in source}, np.empty(0, dtype=np.int64), malformed)
            self.sha256 = digest.result()


def parquet_chunk(batch: pa.RecordBatch, first_row: int, source: dict[str, str]) -> Chunk:
    """Parquet rows numbered from `first_row`, each field as the text its typed value spells (null: blank), so a
    Parquet export is judged exactly as the same CSV would be."""
    columns = {f: batch.column(c).cast(pa.string()).fill_null("") for f, c in source.items()}
    return Chunk(columns, np.arange(first_row, first_row + batch.num_rows, dtype=np.int64))


def is_parquet_file(path: Path) -> bool:
    """By the magic bytes, not the name. Raises OSError when the file cannot be read."""
    with path.open("rb") as handle:
        return handle.read(4) == PARQUET_MAGIC


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)  # releases the GIL for blocks this large
    return digest.hexdigest()


def _text_columns(source: dict[str, str], dictionary: Collection[str]) -> pa_csv.ConvertOptions:
    """Every field's column as text (a blank cell is ""), the `dictionary` fields dictionary-encoded (a few
    distinct values, each judged once), the other columns not converted at all."""
    return pa_csv.ConvertOptions(
        column_types={c: _DICTIONARY if f in dictionary else pa.string() for f, c in source.items()},
        include_columns=list(source.values()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def _kept_lines(first: int, rows: int, skipped: NDArray[np.int64]) -> NDArray[np.int64]:
    """The lines of `rows` consecutive kept rows from line `first` on, stepping over the skipped lines."""
    skipped = skipped[skipped >= first]
    index = np.arange(rows, dtype=np.int64)
    # A kept row's line is its index past `first`, plus the skipped lines before it.
    before = np.searchsorted(skipped - np.arange(skipped.size) - first, index, side="right")
    return first + index + before


def csv_names(first: bytes, where: str) -> list[str]:
    """The column names on a CSV's first line."""
    try:
        header = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise UnusableInput(f"{where}: the header is not UTF-8 text") from exc
    if not header.strip():
        raise UnusableInput(f"{where}: the first line is empty; expected the header")
    try:
        return next(csv.reader([header]))
    except csv.Error as exc:
        raise UnusableInput(f"{where}: the header is not a CSV line ({exc})") from exc


def parse_csv(
    data: bytes, first_line: int, names: list[str], source: dict[str, str], dictionary: Collection[str] = ()
) -> Chunk:
    """Whole lines of CSV (no header) starting at `first_line`, as text columns with their line numbers."""
    bad: list[pa_csv.InvalidRow] = []

    def parse(threads: bool) -> pa.Table:
        def on_invalid(row: pa_csv.InvalidRow) -> str:
            bad.append(row)
            return "skip"

        return pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=threads, block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=_text_columns(source, dictionary),
        )

    table = parse(threads=True)
    if bad:  # rare: parse again on one thread, which reports each bad row's line number
        bad.clear()
        table = parse(threads=False)
    malformed = [Malformed(first_line + r.number - 1, r.text, r.expected_columns, r.actual_columns) for r in bad]
    skipped = np.array([m.line for m in malformed], dtype=np.int64)
    columns = {f: table.column(c).combine_chunks() for f, c in source.items()}
    return Chunk(columns, _kept_lines(first_line, table.num_rows, skipped), malformed)

"""Reading the export in chunks of bounded size, CSV or Parquet, with the input line of every row.

pyarrow reads both (see the README's "The weekly list" for the measurement behind the choice). A CSV is
cut into byte chunks at line ends and each chunk parsed on its own, so memory is bounded by the chunk size
and every row's line number is known exactly: quoted newlines are not part of the export format (pyarrow
refuses them unless told otherwise), and blank lines are kept as (invalid) rows, so nothing shifts.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from scoring.header import UnusableInput

PARQUET_MAGIC = b"PAR1"
CHUNK_BYTES = 4 << 20  # ~35k rows; the chunk bounds memory (peak RSS 393 MB vs 436 MB at 8 MiB, 200k rows)


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
            with path.open("rb") as handle:
                self.parquet = handle.read(4) == PARQUET_MAGIC
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

    def chunks(self, source: dict[str, str]) -> Iterator[Chunk]:
        """Chunks holding the columns `source` names (field -> input column)."""
        try:
            yield from self._parquet_chunks(source) if self.parquet else self._csv_chunks(source)
        except pa.ArrowException as exc:
            raise UnusableInput(f"{self.path}: cannot be parsed ({exc})") from exc

    def _parquet_chunks(self, source: dict[str, str]) -> Iterator[Chunk]:
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        self.sha256 = digest.hexdigest()
        start = 1
        batch_rows = max(1, self.chunk_bytes // 120)
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=batch_rows, columns=list(source.values())):
            columns = {f: batch.column(c).cast(pa.string()).fill_null("") for f, c in source.items()}
            yield Chunk(columns, np.arange(start, start + batch.num_rows, dtype=np.int64))
            start += batch.num_rows

    def _csv_chunks(self, source: dict[str, str]) -> Iterator[Chunk]:
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            header = handle.readline()
            digest.update(header)
            line = 2
            carry = b""
            while True:
                block = handle.read(self.chunk_bytes)
                digest.update(block)
                data = carry + block
                if not block:
                    if data:
                        yield self._parse(data + b"\n", line, source)
                    break
                end = data.rfind(b"\n") + 1
                data, carry = data[:end], data[end:]
                if data:
                    yield self._parse(data, line, source)
                    line += data.count(b"\n")
        self.sha256 = digest.hexdigest()

    def _parse(self, data: bytes, first_line: int, source: dict[str, str]) -> Chunk:
        return parse_csv(data, first_line, self.names, source)


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


def parse_csv(data: bytes, first_line: int, names: list[str], source: dict[str, str]) -> Chunk:
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
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(source.values(), pa.string()),
                include_columns=list(source.values()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    table = parse(threads=True)
    if bad:  # rare: parse again on one thread, which reports each bad row's line number
        bad.clear()
        table = parse(threads=False)
    malformed = [Malformed(first_line + r.number - 1, r.text, r.expected_columns, r.actual_columns) for r in bad]
    skipped = np.array([m.line for m in malformed], dtype=np.int64)
    index = np.arange(table.num_rows, dtype=np.int64)
    # A kept row's line is its index past the chunk start, plus the skipped lines before it.
    before = np.searchsorted(skipped - np.arange(skipped.size) - first_line, index, side="right")
    columns = {f: table.column(c).combine_chunks() for f, c in source.items()}
    return Chunk(columns, first_line + index + before, malformed)

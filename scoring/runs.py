"""Sorted runs spilled to disk and their exact k-way merge into at_risk.csv (bounded memory)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from scoring.explain import REASONS

BANDS = (("top 10%", 0.1), ("10-20%", 0.2), ("20-50%", 0.5), ("rest", 1.0))
RUN_BATCH = 4096
# Rows sorted and spilled together: few runs keep the merge's readers (one batch in memory each) few.
RUN_ROWS = 1 << 16
MERGE_ROWS = 65536
HISTOGRAM_BINS = 20  # of churn probability, 0.05 wide: the risk distribution in the report


@dataclass(frozen=True)
class Selection:
    """What goes into at_risk.csv: every scored customer, the top N, or those at or above a probability."""

    top: int | None = None
    min_probability: float | None = None


@dataclass
class Runs:
    directory: Path
    paths: list[Path] = field(default_factory=list)
    probabilities: list[NDArray[np.float64]] = field(default_factory=list)
    hashes: list[NDArray[np.uint64]] = field(default_factory=list)  # of each row's customer_id, run order
    lines: list[NDArray[np.int64]] = field(default_factory=list)
    schema: pa.Schema | None = None
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0

    def add(self, table: pa.Table) -> None:
        """A chunk's scored rows, in input order of chunks; spilled as a sorted run every RUN_ROWS rows."""
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= RUN_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        # One dictionary per column and run (the IPC file format holds one); ties stay in input order.
        table = pa.concat_tables(self.pending).unify_dictionaries().combine_chunks()
        self.pending, self.pending_rows = [], 0
        table = table.take(pa.array(np.argsort(-table.column("probability").to_numpy(), kind="stable")))
        path = self.directory / f"run-{len(self.paths):05d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=RUN_BATCH)
        self.schema = table.schema
        self.paths.append(path)
        self.probabilities.append(table.column("probability").to_numpy())
        self.hashes.append(id_hashes(table.column("customer_id").combine_chunks()))
        self.lines.append(table.column("line").to_numpy())


class _RunReader:
    """Sequential reads from one sorted run, one record batch in memory at a time."""

    def __init__(self, path: Path) -> None:
        self.reader = pa.ipc.open_file(pa.OSFile(str(path), "rb"))
        self.batch_index = 0
        self.pending: pa.RecordBatch | None = None

    def take(self, count: int) -> list[pa.RecordBatch]:
        pieces: list[pa.RecordBatch] = []
        while count > 0:
            if self.pending is None or self.pending.num_rows == 0:
                self.pending = self.reader.get_batch(self.batch_index)
                self.batch_index += 1
            piece = self.pending.slice(0, count)
            self.pending = self.pending.slice(piece.num_rows)
            pieces.append(piece)
            count -= piece.num_rows
        return pieces


# One random odd multiplier per byte position (ids are at most 64 ASCII characters, CUSTOMER_ID_PATTERN).
_MULTIPLIERS = np.random.default_rng(20261202).integers(1, 2**63, size=65, dtype=np.uint64) | np.uint64(1)
_HASH_ROWS = 1 << 17  # rows hashed at a time: the uint64 copy of their bytes stays a few MB


def id_hashes(ids: pa.Array) -> NDArray[np.uint64]:
    """A 64-bit hash of each (non-blank, ASCII) id: 8 bytes a row kept instead of the string and its offset.
    Only a candidate: equal hashes are compared as strings (`duplicates`)."""
    out = np.empty(len(ids), dtype=np.uint64)
    for start in range(0, len(ids), _HASH_ROWS):
        piece = ids.slice(start, _HASH_ROWS)
        offsets = np.frombuffer(piece.buffers()[1], np.int32, len(piece) + 1, piece.offset * 4).astype(np.int64)
        data = np.frombuffer(piece.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
        lengths = np.diff(offsets)
        position = np.arange(data.size) - np.repeat(offsets[:-1] - offsets[0], lengths)
        mixed = data.astype(np.uint64) * _MULTIPLIERS[np.minimum(position, 64)]
        summed = np.add.reduceat(mixed, offsets[:-1] - offsets[0]) if data.size else np.zeros(len(piece), np.uint64)
        out[start : start + len(piece)] = np.where(lengths > 0, summed, 0) ^ (lengths.astype(np.uint64) << 56)
    return out


def duplicates(runs: Runs) -> dict[int, tuple[int, str]]:
    """Line of each later occurrence of a customer_id -> (line of its first occurrence, the id); exact: rows
    with equal hashes are read back from their runs and compared as strings."""
    if not runs.hashes:
        return {}
    hashes = np.concatenate(runs.hashes)
    order = np.argsort(hashes, kind="stable")
    same = hashes[order[1:]] == hashes[order[:-1]]
    del hashes
    candidates = np.unique(np.concatenate([order[1:][same], order[:-1][same]]))
    del order, same
    if candidates.size == 0:
        return {}
    lines = np.concatenate(runs.lines)[candidates]
    sizes = np.cumsum([0] + [h.size for h in runs.hashes])
    run_of = np.searchsorted(sizes, candidates, side="right") - 1
    picked: list[str] = []
    for r in np.unique(run_of).tolist():
        with pa.memory_map(str(runs.paths[r])) as source:  # only the candidates' pages are read
            table = pa.ipc.open_file(source).read_all()
            picked += table.column("customer_id").take(pa.array(candidates[run_of == r] - sizes[r])).to_pylist()
    first: dict[str, int] = {}
    later: dict[int, tuple[int, str]] = {}
    for customer, line in sorted(zip(picked, lines.tolist(), strict=True), key=lambda pair: pair[1]):
        if customer in first:
            later[line] = (first[customer], customer)
        else:
            first[customer] = line
    return later


def _band_cuts(scored: int) -> list[int]:
    return [math.ceil(share * scored) for _, share in BANDS]


class _Bands:
    """Per-band sizes (all scored customers), how many of them are listed, and their probability span."""

    def __init__(self, scored: int) -> None:
        self.cuts = np.array([math.ceil(share * scored) for _, share in BANDS])
        self.names = np.array([name for name, _ in BANDS])
        self.histogram = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
        self.bands: list[dict[str, Any]] = [{"band": name, "size": 0, "listed": 0} for name, _ in BANDS]
        for band, cut, previous in zip(self.bands, self.cuts.tolist(), [0, *self.cuts[:-1].tolist()], strict=True):
            band["ranks"] = [previous + 1, cut] if cut > previous else None

    def add(self, ranks: NDArray[np.int64], probabilities: NDArray[np.float64], listed: int) -> NDArray[np.intp]:
        """Account one slice in rank order; answers each row's band (an index into `names`)."""
        index = np.searchsorted(self.cuts, ranks, side="left")
        self.histogram += np.histogram(probabilities, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
        for i in np.unique(index).tolist():
            band = self.bands[i]
            inside = probabilities[index == i]
            band["size"] += inside.size
            band["listed"] += int(np.count_nonzero(index[:listed] == i))
            band.setdefault("max_probability", float(inside[0]))
            band["min_probability"] = float(inside[-1])
        return index


def _limit(runs: Runs, probabilities: NDArray[np.float64], drop: set[int], selection: Selection) -> int:
    dropped = np.isin(np.concatenate(runs.lines), list(drop)) if drop else np.zeros(probabilities.size, dtype=bool)
    limit = int(probabilities.size - np.count_nonzero(dropped))
    if selection.top is not None:
        limit = min(limit, selection.top)
    if selection.min_probability is not None:
        limit = min(limit, int(np.count_nonzero((probabilities >= selection.min_probability) & ~dropped)))
    return limit


COLUMNS = (
    "rank", "customer_id", "probability", "prediction", "risk_band",
    *(name for k in range(1, REASONS + 1) for name in (f"reason_{k}", f"reason_{k}_logit")),
    "line",
)  # fmt: skip


@dataclass(frozen=True)
class Merged:
    listed: int
    bands: list[dict[str, Any]]
    histogram: list[int]  # scored customers per 0.05 of probability


def merge(runs: Runs, drop: set[int], out: Path, selection: Selection) -> Merged:
    """Write at_risk.csv in rank order, leaving out the `drop` lines."""
    probabilities = np.concatenate(runs.probabilities) if runs.probabilities else np.empty(0)
    runs.probabilities.clear()
    run_of = np.concatenate([np.full(h.size, i, dtype=np.int16) for i, h in enumerate(runs.hashes)])
    bands = _Bands(probabilities.size - len(drop))
    limit = _limit(runs, probabilities, drop, selection)
    np.negative(probabilities, out=probabilities)  # in place: 80 MB less at 10M rows
    order = np.argsort(probabilities, kind="stable")  # runs are in input order: ties stay in input order
    del probabilities
    readers = [_RunReader(path) for path in runs.paths]
    band_names = pa.array(bands.names.tolist(), pa.string())
    written = 0

    def blocks() -> Iterator[pa.Table]:
        nonlocal written
        rank = 0
        for start in range(0, order.size, MERGE_ROWS):
            sources = run_of[order[start : start + MERGE_ROWS]]
            counts = np.bincount(sources, minlength=len(readers))
            pieces = [batch for r in np.flatnonzero(counts) for batch in readers[r].take(int(counts[r]))]
            # Pieces arrive run by run; within a run they are already in rank order.
            merged = pa.Table.from_batches(pieces).take(pa.array(np.argsort(np.argsort(sources, kind="stable"))))
            if drop:
                merged = merged.filter(pa.array(~np.isin(merged.column("line").to_numpy(), list(drop))))
            ranks = np.arange(rank + 1, rank + 1 + merged.num_rows)
            rank += merged.num_rows
            take = max(0, min(merged.num_rows, limit - written))
            band = bands.add(ranks, merged.column("probability").to_numpy(), take)
            if take == 0:
                continue
            batch = merged.slice(0, take)
            written += take
            yield pa.table(
                {
                    "rank": pa.array(ranks[:take]),
                    "risk_band": pa.DictionaryArray.from_arrays(pa.array(band[:take].astype(np.int8)), band_names),
                    **{c: batch.column(c) if c in batch.column_names else pa.nulls(take, pa.string())
                       for c in COLUMNS if c not in ("rank", "risk_band")},
                }
            ).select(list(COLUMNS))  # fmt: skip

    with open(out, "wb") as sink:
        writer: pa_csv.CSVWriter | None = None
        for table in blocks():
            writer = writer or pa_csv.CSVWriter(sink, table.schema)
            writer.write_table(table)  # measured: formatting blocks on two threads is no faster (GIL)
        if writer is None:
            sink.write((",".join(f'"{c}"' for c in COLUMNS) + "\n").encode())
        else:
            writer.close()
    return Merged(written, bands.bands, bands.histogram.tolist())

"""Sorted runs spilled to disk and their exact merge into at_risk.csv, in memory bounded by the run and the
merge block, not by the file.

Every RUN_ROWS scored rows become a run: the rows sorted by (probability descending, line) in an Arrow
file, and their ids' 64-bit hashes sorted by (hash, line) in a flat file beside it. Only the key of each
batch's last row stays in memory (16 bytes per batch). `duplicates` and `merge` read the runs forward in
blocks (`scoring.blocks`): a block holds at most MERGE_ROWS rows plus one batch per run, whatever the size
of the file (at 10M rows, 153 runs: 65,536 + 156,672 rows at most, ~30 MB).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from scoring.blocks import Sorted, blocks, stable_argsort
from scoring.explain import REASONS
from scoring.memory import trim
from scoring.parallel import WORKERS, in_order

BANDS = (("top 10%", 0.1), ("10-20%", 0.2), ("20-50%", 0.5), ("rest", 1.0))
RUN_ROWS = 1 << 16  # rows sorted and spilled together
RUN_BATCH = 1024  # rows a run is read back by: the merge holds one batch per run (~150 kB)
HASH_BATCH = 2048  # (hash, line, row) entries of 20 bytes read back at a time (40 kB per run)
MERGE_ROWS = 65536  # rows a merge block takes beyond the runs' current batches
HISTOGRAM_BINS = 20  # of churn probability, 0.05 wide: the risk distribution in the report
_HASHED = np.dtype([("hash", "<u8"), ("line", "<i8"), ("row", "<u4")])


@dataclass(frozen=True)
class Selection:
    """What goes into at_risk.csv: every scored customer, the top N, or those at or above a probability."""

    top: int | None = None
    min_probability: float | None = None


@dataclass(frozen=True)
class _Run:
    path: Path  # every column, by (probability descending, line), in batches of RUN_BATCH rows
    hashed: Path  # _HASHED entries by (hash, line); `row` is the row's place in `path`
    rows: int
    ends: NDArray[np.float64] = field(repr=False)  # -probability of each batch's last row
    end_lines: NDArray[np.int64] = field(repr=False)
    hash_ends: NDArray[np.uint64] = field(repr=False)  # hash of each HASH_BATCH's last entry
    hash_end_lines: NDArray[np.int64] = field(repr=False)


def _batch_ends(keys: NDArray[Any], lines: NDArray[np.int64], batch: int) -> tuple[NDArray[Any], NDArray[np.int64]]:
    last = np.minimum(np.arange(batch, len(keys) + batch, batch), len(keys)) - 1
    return keys[last].copy(), lines[last].copy()


def _spill(pending: list[pa.Table], path: Path) -> _Run:
    # One dictionary per column and run (the IPC file format holds one).
    table = pa.concat_tables(pending).unify_dictionaries().combine_chunks()
    pending.clear()  # the chunks are copied: let them go while the run is written
    keys = -table.column("probability").to_numpy()
    order = stable_argsort(keys)  # the chunks are in input order: ties stay in input order
    lines = table.column("line").to_numpy()
    hashes = id_hashes(table.column("customer_id").combine_chunks())
    table = table.take(pa.array(order))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=RUN_BATCH)
    del table
    rows = np.empty(len(order), dtype=np.uint32)
    rows[order] = np.arange(len(order), dtype=np.uint32)
    by_hash = stable_argsort(hashes)  # lines ascend within a hash: the key is (hash, line)
    hashed = np.empty(len(order), dtype=_HASHED)
    hashed["hash"], hashed["line"], hashed["row"] = hashes[by_hash], lines[by_hash], rows[by_hash]
    hashed_path = path.with_suffix(".hashes")
    hashed.tofile(hashed_path)
    ends, end_lines = _batch_ends(keys[order], lines[order], RUN_BATCH)
    hash_ends, hash_end_lines = _batch_ends(hashed["hash"], hashed["line"], HASH_BATCH)
    return _Run(path, hashed_path, len(order), ends, end_lines, hash_ends, hash_end_lines)


@dataclass
class Runs:
    """Scored rows, added in input order, spilled as sorted runs; `flush()` before `duplicates` and `merge`."""

    directory: Path
    runs: list[_Run] = field(default_factory=list)
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0

    @property
    def rows(self) -> int:
        return sum(run.rows for run in self.runs)

    def add(self, table: pa.Table) -> None:
        """A chunk's scored rows, in input order; spilled as a sorted run every RUN_ROWS rows."""
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= RUN_ROWS:
            self._spill()
            trim()

    def flush(self) -> None:
        """Spill the rest, and hand every freed page back before the merge."""
        self._spill()
        trim(above=0)

    def _spill(self) -> None:
        # On this thread: spilling on a thread of its own, beside the scoring threads, measured ~30 MB more
        # peak RSS (3M rows: 513-528 MB against 477-490 MB), and again no clear gain at 1M (4.3-4.6 s both).
        if self.pending:
            pending, self.pending, self.pending_rows = self.pending, [], 0
            self.runs.append(_spill(pending, self.directory / f"run-{len(self.runs):05d}.arrow"))


# One random odd multiplier per 8-byte word of an id (ids are at most 64 ASCII characters, CUSTOMER_ID_PATTERN;
# a longer one reuses them, which only makes collisions likelier).
_MULTIPLIERS = np.random.default_rng(20261202).integers(1, 2**63, size=8, dtype=np.uint64) | np.uint64(1)
_HASH_ROWS = 1 << 16  # ids hashed at a time: their padded copy stays a few MB


def id_hashes(ids: pa.Array) -> NDArray[np.uint64]:
    """A 64-bit hash of each id: its bytes padded with NULs to whole words, one multiply-add per word, and the
    length in the top byte. Only a candidate: equal hashes are compared as strings (`duplicates`). Measured
    at 1M ids: 14 ms, against 200-580 ms for a multiply per byte."""
    ids = ids.cast(pa.string())
    out = np.empty(len(ids), dtype=np.uint64)
    for start in range(0, len(ids), _HASH_ROWS):
        piece = ids.slice(start, _HASH_ROWS)
        lengths = pc.binary_length(piece).to_numpy(zero_copy_only=False).astype(np.uint64)
        words = max(1, -(-int(lengths.max(initial=0)) // 8))
        padded = pc.ascii_rpad(piece, width=8 * words, padding="\0")  # every id now exactly 8 * words bytes
        data = np.frombuffer(padded.buffers()[2], np.uint64, len(piece) * words).reshape(len(piece), words)
        multipliers = _MULTIPLIERS[np.arange(words) % _MULTIPLIERS.size]
        out[start : start + len(piece)] = (data @ multipliers) ^ (lengths << np.uint64(56))
    return out


def _hash_source(run: _Run) -> Sorted[NDArray[np.void]]:
    def load(batch: int) -> tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.void]]:
        entries = np.fromfile(run.hashed, _HASHED, HASH_BATCH, offset=batch * HASH_BATCH * _HASHED.itemsize)
        return entries["hash"], entries["line"], entries

    return Sorted(run.hash_ends, run.hash_end_lines, load)


def duplicates(runs: Runs) -> dict[int, tuple[int, str]]:
    """Line of each later occurrence of a customer_id -> (line of its first occurrence, the id); exact: rows
    with equal hashes (neighbours in hash order) are read back from their runs and compared as strings."""
    candidates: list[NDArray[np.void]] = []
    candidate_runs: list[NDArray[np.intp]] = []
    carried: tuple[NDArray[np.void], NDArray[np.intp]] | None = None  # the previous block's last entry
    for block in blocks([_hash_source(run) for run in runs.runs], max(1, MERGE_ROWS // HASH_BATCH)):
        entries = np.concatenate([piece for _, piece in block.pieces])[block.order]
        run_of = np.repeat([run for run, _ in block.pieces], [len(piece) for _, piece in block.pieces])[block.order]
        if carried is not None:
            entries, run_of = np.concatenate([carried[0], entries]), np.concatenate([carried[1], run_of])
        same = entries["hash"][1:] == entries["hash"][:-1]
        near = np.zeros(len(entries), dtype=bool)
        near[1:] |= same
        near[:-1] |= same
        candidates.append(entries[near])
        candidate_runs.append(run_of[near])
        carried = entries[-1:], run_of[-1:]
    if not candidates:
        return {}
    found = np.concatenate(candidates)
    _, unique = np.unique(found["line"], return_index=True)  # the carried entry may be found twice
    found, run_of = found[unique], np.concatenate(candidate_runs)[unique]
    picked: list[str] = []
    lines: list[int] = []
    for r in np.unique(run_of).tolist():
        with pa.memory_map(str(runs.runs[r].path)) as source:  # only the candidates' pages are read
            table = pa.ipc.open_file(source).read_all()
            inside = found[run_of == r]
            picked += table.column("customer_id").take(pa.array(inside["row"])).to_pylist()
            lines += inside["line"].tolist()
    first: dict[str, int] = {}
    later: dict[int, tuple[int, str]] = {}
    for customer, line in sorted(zip(picked, lines, strict=True), key=lambda pair: pair[1]):
        if customer in first:
            later[line] = (first[customer], customer)
        else:
            first[customer] = line
    return later


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
    held: int  # the most rows the merge held at once (a block and each run's current batch)


def _row_source(
    reader: pa.ipc.RecordBatchFileReader, run: _Run, recoding: dict[str, pa.Array], shared: dict[str, pa.Array]
) -> Sorted[pa.RecordBatch]:
    def load(batch: int) -> tuple[NDArray[np.float64], NDArray[np.int64], pa.RecordBatch]:
        rows = _recoded(reader.get_batch(batch), recoding, shared)
        return -rows.column("probability").to_numpy(), rows.column("line").to_numpy(), rows

    return Sorted(run.ends, run.end_lines, load)


def _shared_dictionaries(
    readers: list[pa.ipc.RecordBatchFileReader],
) -> tuple[dict[str, pa.Array], list[dict[str, pa.Array]]]:
    """One dictionary per reason column for all the runs, and for each run, its indices' place in it. With a
    dictionary of its own per run, concatenating a block's batches unified every run's dictionary again for
    each block: a third of the merge's samples at 1M rows (py-spy), growing with the runs."""
    recodings: list[dict[str, pa.Array]] = [{} for _ in readers]
    shared: dict[str, pa.Array] = {}
    if not readers:
        return shared, recodings
    first = [reader.get_batch(0) for reader in readers]  # a run holds at least one row
    for name in [f.name for f in first[0].schema if pa.types.is_dictionary(f.type)]:
        own = [batch.column(name).dictionary for batch in first]
        shared[name] = pc.unique(pa.chunked_array(own, pa.string()))
        for recoding, dictionary in zip(recodings, own, strict=True):
            recoding[name] = pc.index_in(dictionary, value_set=shared[name]).cast(pa.int32())
    return shared, recodings


def _recoded(rows: pa.RecordBatch, recoding: dict[str, pa.Array], shared: dict[str, pa.Array]) -> pa.RecordBatch:
    if not recoding:
        return rows
    columns = [
        pa.DictionaryArray.from_arrays(pc.take(recoding[name], column.indices), shared[name])
        if name in recoding else column
        for name, column in zip(rows.schema.names, rows.columns, strict=True)
    ]  # fmt: skip
    return pa.RecordBatch.from_arrays(columns, names=rows.schema.names)


def _listed(probabilities: NDArray[np.float64], written: int, selection: Selection) -> int:
    """How many of a block's rows (in rank order, after `written`) are listed: both selections keep a prefix."""
    take = len(probabilities) if selection.top is None else max(0, min(len(probabilities), selection.top - written))
    if selection.min_probability is not None:
        take = min(take, int(np.count_nonzero(probabilities >= selection.min_probability)))
    return take


HEADER = (",".join(f'"{c}"' for c in COLUMNS) + "\n").encode()
_NO_HEADER = pa_csv.WriteOptions(include_header=False)


def _csv_text(table: pa.Table) -> pa.Buffer:
    text = pa.BufferOutputStream()
    pa_csv.write_csv(table, text, _NO_HEADER)
    return text.getvalue()


def merge(runs: Runs, drop: set[int], out: Path, selection: Selection) -> Merged:
    """Write at_risk.csv in rank order, leaving out the `drop` lines."""
    bands = _Bands(runs.rows - len(drop))
    dropped = np.array(sorted(drop), dtype=np.int64)
    band_names = pa.array(bands.names.tolist(), pa.string())
    written = held = 0

    def tables(stack: ExitStack) -> Iterator[pa.Table]:
        nonlocal written, held
        rank = 0
        # Read, not memory-mapped: mapped pages would stay in the resident set until the whole run is.
        readers = [pa.ipc.open_file(stack.enter_context(pa.OSFile(str(run.path), "rb"))) for run in runs.runs]
        shared, recodings = _shared_dictionaries(readers)
        sources = [
            _row_source(reader, run, recoding, shared)
            for reader, run, recoding in zip(readers, runs.runs, recodings, strict=True)
        ]
        for block in blocks(sources, max(1, MERGE_ROWS // RUN_BATCH)):
            held = max(held, block.held)
            merged = pa.Table.from_batches([rows for _, rows in block.pieces]).take(pa.array(block.order))
            if dropped.size:
                merged = merged.filter(pa.array(~np.isin(merged.column("line").to_numpy(), dropped)))
            if merged.num_rows == 0:
                continue
            probabilities = merged.column("probability").to_numpy()
            ranks = np.arange(rank + 1, rank + 1 + merged.num_rows)
            rank += merged.num_rows
            take = _listed(probabilities, written, selection)
            band = bands.add(ranks, probabilities, take)
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

    # A new file, never written over the old one: that may be an archived list (`scoring.cut`).
    staging = out.with_name(f".{out.name}.merging")
    staging.unlink(missing_ok=True)
    with ExitStack() as stack, open(staging, "wb") as sink, ThreadPoolExecutor(WORKERS, "csv") as pool:
        sink.write(HEADER)
        # Arrow formats a block with the GIL released: two blocks at a time on two cores, while this thread
        # merges the next one (measured at 1M rows: 0.37 s against 0.90 s to format on one thread).
        for _, text in in_order(pool, _csv_text, tables(stack), WORKERS + 1):
            sink.write(text)
            trim()
    staging.replace(out)
    return Merged(written, bands.bands, bands.histogram.tolist(), held)

"""Sorted runs and their merge in blocks: exact (ranks, ties in input order, duplicates, bands, selections)
across many runs and blocks, against a plain in-memory sort; and the rows held at once are bounded by the
block and one batch per run, not by the rows merged."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from scoring import runs
from scoring.blocks import stable_argsort
from scoring.runs import Merged, Runs, Selection, duplicates, merge

ROWS = 6000
Later = dict[int, tuple[int, str]]  # a later line -> (its first line, the id)


def _chunks(seed: int) -> list[pa.Table]:
    """Scored rows in input order: few distinct probabilities (many ties), repeated ids within and across runs."""
    rng = np.random.default_rng(seed)
    probabilities = rng.choice(rng.random(40), ROWS)
    ids = np.array([f"C-{i}" for i in range(ROWS)], dtype=object)
    repeated = rng.choice(ROWS, 300, replace=False)
    ids[repeated] = ids[rng.choice(ROWS, 300)]  # some repeat an earlier id, some a later one
    lines = np.arange(2, ROWS + 2) + np.cumsum(rng.random(ROWS) < 0.01)  # rejected lines leave gaps
    reasons = pa.array(rng.choice(["tenure=2", "contract=Month-to-month", "internet_service=Fiber optic"], ROWS))
    table = pa.table({
        "line": pa.array(lines), "customer_id": pa.array(ids.tolist(), pa.string()),
        "probability": pa.array(probabilities), "prediction": pa.array((probabilities >= 0.5).astype(np.int8)),
        "reason_1": reasons.dictionary_encode(),
    })  # fmt: skip
    cuts = np.sort(rng.choice(np.arange(1, ROWS), 40, replace=False))
    return [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, ROWS], strict=True)]


def _expected(chunks: list[pa.Table]) -> tuple[list[tuple[int, str]], Later]:
    """(line, id) in rank order without the later occurrences, and the later occurrences: a plain sort."""
    table = pa.concat_tables(chunks)
    lines, ids = table.column("line").to_pylist(), table.column("customer_id").to_pylist()
    first: dict[str, int] = {}
    later = {}
    for line, customer in zip(lines, ids, strict=True):
        if customer in first:
            later[line] = (first[customer], customer)
        first.setdefault(customer, line)
    order = np.lexsort((np.array(lines), -table.column("probability").to_numpy()))
    return [(lines[i], ids[i]) for i in order.tolist() if lines[i] not in later], later


def _merged(
    tmp_path: Path, chunks: list[pa.Table], selection: Selection
) -> tuple[Runs, Later, Merged, list[dict[str, str]]]:
    spilled = Runs(tmp_path / f"runs-{selection.top}-{selection.min_probability}")
    spilled.directory.mkdir()
    for chunk in chunks:
        spilled.add(chunk)
    spilled.flush()
    later = duplicates(spilled)
    out = spilled.directory / "at_risk.csv"
    merged = merge(spilled, set(later), out, selection)
    with out.open(encoding="utf-8", newline="") as handle:
        return spilled, later, merged, list(csv.DictReader(handle))


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of ~500 rows read back by 16, blocks of 64: a 6,000-row merge of ten runs in about a hundred blocks."""
    monkeypatch.setattr(runs, "RUN_ROWS", 500)
    monkeypatch.setattr(runs, "RUN_BATCH", 16)
    monkeypatch.setattr(runs, "HASH_BATCH", 16)
    monkeypatch.setattr(runs, "MERGE_ROWS", 64)


@pytest.mark.usefixtures("small")
@pytest.mark.parametrize("hashes", ["real", "colliding"])
def test_the_merge_in_blocks_is_the_plain_sort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashes: str) -> None:
    if hashes == "colliding":  # every id one hash: duplicates are still told apart by their strings
        monkeypatch.setattr(runs, "id_hashes", lambda ids: np.zeros(len(ids), dtype=np.uint64))
    chunks = _chunks(seed=7)
    ranked, expected_later = _expected(chunks)
    spilled, later, merged, listed = _merged(tmp_path, chunks, Selection())
    assert len(spilled.runs) >= 8
    assert later == expected_later
    assert [(int(r["line"]), r["customer_id"]) for r in listed] == ranked
    assert [int(r["rank"]) for r in listed] == list(range(1, len(ranked) + 1))
    assert merged.listed == len(ranked)
    assert sum(band["size"] for band in merged.bands) == sum(merged.histogram) == len(ranked)
    cuts = [math.ceil(share * len(ranked)) for share in (0.1, 0.2, 0.5, 1.0)]
    assert [band["size"] for band in merged.bands] == np.diff([0, *cuts]).tolist()
    assert {r["reason_1"] for r in listed} == {"tenure=2", "contract=Month-to-month", "internet_service=Fiber optic"}


@pytest.mark.usefixtures("small")
def test_the_rows_held_at_once_are_bounded_by_the_block_not_the_rows(tmp_path: Path) -> None:
    spilled, _, merged, listed = _merged(tmp_path, _chunks(seed=11), Selection())
    bound = runs.MERGE_ROWS + len(spilled.runs) * runs.RUN_BATCH  # a block, and each run's current batch
    assert merged.held <= bound < len(listed) / 5


@pytest.mark.usefixtures("small")
def test_selections_keep_a_prefix_and_the_bands_count_everyone(tmp_path: Path) -> None:
    chunks = _chunks(seed=3)
    *_, everyone, full = _merged(tmp_path, chunks, Selection())
    *_, top, listed = _merged(tmp_path, chunks, Selection(top=777))
    assert listed == full[:777]
    first_band = everyone.bands[0]["size"]
    assert [b["listed"] for b in top.bands[:2]] == [first_band, 777 - first_band]
    assert [b["size"] for b in top.bands] == [b["size"] for b in everyone.bands]
    assert top.histogram == everyone.histogram
    threshold = float(full[400]["probability"])
    *_, cut, at_least = _merged(tmp_path, chunks, Selection(min_probability=threshold))
    assert at_least == [r for r in full if float(r["probability"]) >= threshold]
    assert cut.listed == len(at_least) > 400


def test_the_fast_stable_argsort_is_numpys() -> None:
    rng = np.random.default_rng(5)
    for keys in (rng.random(5000), rng.choice(rng.random(30), 5000), rng.integers(0, 2**63, 5000).astype(np.uint64),
                 np.zeros(5000, dtype=np.uint64), np.empty(0)):  # fmt: skip
        assert np.array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))

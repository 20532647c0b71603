"""Outcomes joined to the archived lists: per list (model version and week) what it realised.

The outcomes file: `customer_id`, `churned` (yes/no), `as_of` (a date, YYYY-MM-DD) and optionally
`contacted` (yes/no). `as_of` is the date of the customer snapshot the outcome follows: it grades the list
of that date's ISO week; `churned` says whether the customer left in the horizon after it. The file is
refused whole (exit 2) for a missing column, a value that is not yes/no or a date, or a customer twice
in one week, naming the first few lines at fault.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from scoring.archive import CHAMPION, Entry, iso_week
from scoring.realised import Graded, Verdict, bootstrap_precision, figures
from scoring.shadow import top_k
from scoring.weekly import AT_RISK

REQUIRED = ("customer_id", "churned", "as_of")
REPORT, DIAGRAM = "outcomes.json", "reliability.png"
MIN_UNCONTACTED = 30  # fewer uncontacted customers in the top 10% than this: the gate measures them all
_SHOWN = 5


class UnusableOutcomes(Exception):
    """The outcomes file cannot be used; one line says why."""


@dataclass(frozen=True)
class Outcomes:
    weeks: dict[str, pa.Table]  # week -> customer_id, churned (int8), contacted (bool or null)
    has_contacted: bool
    sha256: str
    name: str


def _yes_no(column: pa.Array, name: str, lines: list[int], optional: bool = False) -> pa.Array:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(column))
    allowed = ["yes", "no", ""] if optional else ["yes", "no"]
    bad = np.flatnonzero(~np.asarray(pc.is_in(lowered, value_set=pa.array(allowed)), dtype=bool))
    if bad.size:
        shown = "; ".join(f"line {lines[i]}: {column[i].as_py()!r}" for i in bad[:_SHOWN].tolist())
        raise UnusableOutcomes(f"{bad.size} {name} values are not yes/no ({shown})")
    return pc.equal(lowered, "yes")


def read_outcomes(path: Path) -> Outcomes:
    try:
        raw = path.read_bytes()
        # Every column as text: an id such as 0042 must stay "0042", a date is parsed here, not guessed.
        strings = {name: pa.string() for name in (*REQUIRED, "contacted")}
        options = pa_csv.ConvertOptions(column_types=strings, strings_can_be_null=False)
        table = pa_csv.read_csv(pa.BufferReader(raw), convert_options=options)
    except (OSError, pa.ArrowException) as exc:
        raise UnusableOutcomes(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        raise UnusableOutcomes(f"{path.name}: required columns missing: {', '.join(missing)}")
    text = {name: pc.cast(table.column(name), pa.string()).combine_chunks() for name in table.column_names}
    lines = list(range(2, table.num_rows + 2))
    churned = _yes_no(text["churned"], "churned", lines)
    contacted = _yes_no(text["contacted"], "contacted", lines, optional=True) if "contacted" in text else None
    weeks_of: list[str] = []
    for i, value in enumerate(text["as_of"].to_pylist()):
        try:
            weeks_of.append(iso_week(date.fromisoformat(value.strip())))
        except ValueError:
            raise UnusableOutcomes(f"line {lines[i]}: as_of {value!r} is not a date (YYYY-MM-DD)") from None
    ids = pc.utf8_trim_whitespace(text["customer_id"])
    frame = pa.table({
        "customer_id": ids, "week": pa.array(weeks_of), "line": pa.array(lines),
        "churned": pc.cast(churned, pa.int8()),
        "contacted": contacted if contacted is not None else pa.nulls(table.num_rows, pa.bool_()),
    })  # fmt: skip
    keys = pc.binary_join_element_wise(frame.column("week"), frame.column("customer_id"), "/")
    counts = pc.value_counts(keys)
    twice = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if len(twice):
        raise UnusableOutcomes(f"{len(twice)} customers have two outcomes in one week, e.g. {twice[0].as_py()}")
    weeks = {
        str(w): frame.filter(pc.equal(frame.column("week"), w)) for w in pc.unique(frame.column("week")).to_pylist()
    }
    return Outcomes(weeks, contacted is not None, hashlib.sha256(raw).hexdigest(), path.name)


def _ranking(entry: Entry) -> pa.Table:
    options = pa_csv.ConvertOptions(
        include_columns=["rank", "customer_id", "probability"],
        column_types={"rank": pa.int64(), "customer_id": pa.string(), "probability": pa.float64()},
    )
    return pa_csv.read_csv(entry.path / AT_RISK, convert_options=options)


def grade(entry: Entry, outcomes: Outcomes, *, seed: int, resamples: int, level: float) -> dict[str, Any] | None:
    """The realised report of one archived list, or None when no outcome falls on its week."""
    week = outcomes.weeks.get(entry.week)
    if week is None:
        return None
    ranking = _ranking(entry)
    at = pc.index_in(week.column("customer_id"), value_set=ranking.column("customer_id"))
    matched = np.asarray(at.is_valid(), dtype=bool)
    if not matched.any():
        return None
    rows = np.asarray(at.fill_null(0), dtype=np.int64)[matched]
    rank = ranking.column("rank").to_numpy()[rows]
    churned = week.column("churned").to_numpy(zero_copy_only=False)[matched].astype(np.int64)
    contacted = np.asarray(week.column("contacted").fill_null(False), dtype=bool)[matched]
    scored, listed = int(entry.summary["rows"]["scored"]), int(entry.summary["rows"]["listed"])
    called = contacted if outcomes.has_contacted else rank <= listed
    graded = Graded(rank, ranking.column("probability").to_numpy()[rows], churned, called)
    k = top_k(scored)
    held_out = entry.record["model"]["held_out"]
    report: dict[str, Any] = {
        "week": entry.week, "role": entry.role, "model_version": entry.version,
        "model_sha256": entry.record["model"]["model_sha256"], "outcomes": outcomes.name,
        "outcomes_sha256": outcomes.sha256, "scored": scored, "listed": listed, "top10_k": k,
        "joined": int(matched.sum()), "outcomes_in_week": week.num_rows,
        "outcomes_not_in_list": int(week.num_rows - matched.sum()), "called_by": "contacted" if outcomes.has_contacted
        else "the list handed out (ranks 1..listed)", "held_out": held_out, "all": figures(graded, k),
    }  # fmt: skip
    gate_rows = rank <= k
    basis = "all"
    if outcomes.has_contacted:
        for name, mask in (("contacted", contacted), ("uncontacted", ~contacted)):
            report[name] = figures(Graded(rank[mask], graded.probability[mask], churned[mask], called[mask]), k)
        if int((gate_rows & ~contacted).sum()) >= MIN_UNCONTACTED:
            gate_rows, basis = gate_rows & ~contacted, "uncontacted"
    verdict: Verdict = bootstrap_precision(
        churned[gate_rows], float(held_out["precision_top10"]), basis=basis, seed=seed, resamples=resamples,
        level=level,
    )  # fmt: skip
    report["gate"] = verdict.as_dict()
    return report


def write_report(entry: Entry, report: dict[str, Any], *, diagram: bool = True) -> list[Path]:
    """outcomes.json and reliability.png beside the archived list: the evidence stays with the list."""
    path = entry.path / REPORT
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not diagram:
        return [path]
    from scoring.reliability import draw  # noqa: PLC0415 - matplotlib costs ~0.5 s

    return [path, draw(report, entry.path / DIAGRAM)]


def is_alarm(report: dict[str, Any]) -> bool:
    """Only the champion's list fails the command: a weak challenger is evidence against promoting it."""
    return bool(report["role"] == CHAMPION and report["gate"]["degraded"])

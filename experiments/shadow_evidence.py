"""Shadow evidence for a promotion: what the list archive says a run did as the challenger.

A week counts when the archive holds a challenger list whose model came from the run (its manifest's MLflow
run id). Its top-10% overlap with the champion comes from that list's summary; its realised precision
from the `outcomes.json` that `python -m scoring outcomes` wrote beside it (and beside the champion's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.config import ShadowFloors
from scoring.archive import CHALLENGER, CHAMPION, ArchiveError, entries
from scoring.outcomes import REPORT


@dataclass(frozen=True)
class ShadowWeek:
    week: str
    overlap: float | None  # top-10% Jaccard with the champion; None when the list was not compared
    realised: float | None  # realised precision in the top 10%; None until outcomes are graded
    degraded: bool
    champion_realised: float | None


def _outcomes(path: Path) -> dict[str, Any] | None:
    report = path / REPORT
    return json.loads(report.read_text(encoding="utf-8")) if report.exists() else None


def shadow_weeks(archive: Path, run_id: str) -> list[ShadowWeek]:
    try:
        found = entries(archive)
    except ArchiveError:
        return []
    champions = {e.week: e for e in found if e.role == CHAMPION}
    weeks = []
    for entry in found:
        if entry.role != CHALLENGER or entry.record["model"].get("mlflow_run_id") != run_id:
            continue
        shadow = entry.summary.get("shadow", {})
        overlap = next((t["jaccard"] for t in shadow.get("top", []) if t["cut"] == "top 10%"), None)
        ours = _outcomes(entry.path)
        champion = champions.get(entry.week)
        theirs = _outcomes(champion.path) if champion is not None else None
        weeks.append(ShadowWeek(
            entry.week, overlap, ours["all"]["top10"]["precision"] if ours else None,
            bool(ours and ours["gate"]["degraded"]), theirs["all"]["top10"]["precision"] if theirs else None,
        ))  # fmt: skip
    return weeks


def missing_evidence(floors: ShadowFloors, archive: Path, run_id: str) -> list[str]:
    """Every floor the archive's evidence does not clear, each named with the numbers (empty: enough)."""
    weeks = shadow_weeks(archive, run_id)
    named = ", ".join(w.week for w in weeks) or "none"
    missing = []
    if len(weeks) < floors.min_weeks:
        missing.append(
            f"shadow evidence: {len(weeks)} weekly lists scored this run in shadow ({named}), the floor is "
            f"{floors.min_weeks}: stage it with `python -m experiments challenger {run_id}` and keep making lists"
        )
    for week in weeks:
        if week.overlap is None:
            missing.append(f"shadow evidence: the {week.week} list has no top-10% overlap with the champion")
        elif week.overlap < floors.min_top10_overlap:
            missing.append(f"shadow evidence: top-10% overlap {week.overlap:.3f} in {week.week} is below the floor "
                           f"{floors.min_top10_overlap:.3f}")  # fmt: skip
    graded = [w for w in weeks if w.realised is not None]
    if len(graded) < floors.min_outcome_weeks:
        missing.append(
            f"shadow evidence: {len(graded)} weeks with realised outcomes, the floor is {floors.min_outcome_weeks}: "
            "grade them with `python -m scoring outcomes OUTCOMES.csv`"
        )
    for week in graded:
        realised = f"realised precision in the top 10% {week.realised:.3f} in {week.week}"
        if week.degraded:
            missing.append(f"shadow evidence: {realised} is below the run's own held-out figure by more than noise")
        gap, champion = floors.max_precision_gap, week.champion_realised
        if gap is not None and champion is not None and week.realised is not None and week.realised < champion - gap:
            missing.append(f"shadow evidence: {realised} trails the champion's {champion:.3f} by more than {gap:.3f}")
    return missing

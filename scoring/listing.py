"""A weekly list end to end, for the command and the HTTP route alike: the full ranking (`run_weekly`),
the challenger's list in shadow, the cut to the list handed out, the archive, and the MLflow run.

Only the champion's list is ever handed out. The challenger's is archived beside it and compared; a
challenger that cannot score (absent, corrupt, or failing) never withholds or changes the champion's list:
its failure is the `shadow` section's `reason`.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scoring.archive import CHALLENGER, CHAMPION, Archived, archive_list, iso_week, record_for, update_record
from scoring.cut import cut_list
from scoring.runs import Selection
from scoring.shadow import compare_lists
from scoring.weekly import AT_RISK, SUMMARY, Engine, Outcome, Scorer, run_weekly

log = logging.getLogger("churnguard.lists")
FULL = ".full_at_risk.csv"
CHALLENGER_DIR = "challenger"


@dataclass(frozen=True)
class ListJob:
    input_path: Path | str  # a str for what only the engine can read (a Spark URL)
    out_dir: Path
    archive: Path
    source: str  # "command" or "http"
    selection: Selection = field(default_factory=Selection)
    max_rejected_share: float = 0.01
    week: str | None = None  # default: the ISO week of today's date (UTC)
    tracking_uri: str | None = None  # None: the list is archived in the directory only
    engine: Engine = run_weekly  # or a `scoring.spark.SparkEngine`


@dataclass(frozen=True)
class Listed:
    outcome: Outcome
    archived: list[Archived]


def _write(path: Path, summary: dict[str, Any]) -> None:
    # A new file, never rewritten in place: the archive may hold a hard link to the earlier one.
    staging = path.with_name(f".{path.name}.new")
    staging.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    staging.replace(path)


def _cut(outcome: Outcome, out_dir: Path, selection: Selection) -> tuple[Path, dict[str, Any]]:
    """Keep the full ranking aside (for the archive and the comparison) and cut the list handed out."""
    full = out_dir / FULL
    (out_dir / AT_RISK).replace(full)
    return full, cut_list(full, out_dir / AT_RISK, outcome.summary, selection)


def _shadow(
    job: ListJob, challenger: Scorer | None, champion_full: Path, listed: int, why_not: str
) -> tuple[dict[str, Any], tuple[Path, dict[str, Any]] | None]:
    """The comparison, and the challenger's full ranking with its summary cut as the champion's was (its
    "called" list is the one it would have handed out)."""
    if challenger is None:
        return {"available": False, "reason": why_not}, None
    directory = job.out_dir / CHALLENGER_DIR
    try:
        outcome = job.engine(job.input_path, directory, challenger, max_rejected_share=job.max_rejected_share)
        full, summary = _cut(outcome, directory, job.selection)
        comparison = compare_lists(champion_full, full, listed)
    except Exception as exc:  # the challenger's failure is reported, never the champion's
        log.warning("challenger list failed: %s", exc, extra={"challenger_version": challenger.model.version})
        shutil.rmtree(directory, ignore_errors=True)
        return {"available": False, "reason": f"the challenger could not score the list: {type(exc).__name__}"}, None
    manifest = challenger.model.manifest
    model = {
        "version": manifest.version,
        "model_sha256": manifest.model_sha256,
        "mlflow_run_id": manifest.mlflow_run_id,
    }
    return {**comparison, "challenger": model, "challenger_bands": summary["bands"]}, (full, summary)


def make_list(
    job: ListJob, champion: Scorer, challenger: Scorer | None = None, why_not: str = "no challenger configured"
) -> Listed:
    """Raises UnusableInput (exit 2) as `run_weekly` does; the archive and MLflow come after the list.
    `why_not`: the summary's reason when there is no challenger to compare."""
    week = job.week or iso_week(datetime.now(UTC).date())
    outcome = job.engine(job.input_path, job.out_dir, champion, max_rejected_share=job.max_rejected_share)
    full, summary = _cut(outcome, job.out_dir, job.selection)
    shadow, shadowed = _shadow(job, challenger, full, summary["rows"]["listed"], why_not)
    summary = {**summary, "week": week, "shadow": shadow}
    if shadow["available"]:
        top = shadow["top"][0]
        log.info("challenger compared", extra={
            "week": week, "champion_version": champion.model.version,
            "challenger_version": shadow["challenger"]["version"],
            "disagreement_rate": shadow["disagreement_rate"], "mean_abs_delta": shadow["mean_abs_delta"],
            "p99_abs_delta": shadow["p99_abs_delta"], "top10_jaccard": top["jaccard"], "enters": top["enters"],
            "leaves": top["leaves"],
        })  # fmt: skip
    _write(job.out_dir / SUMMARY, summary)
    archived = [archive_list(job.archive, full, job.out_dir / SUMMARY,
                             record_for(week, CHAMPION, summary, champion.model.manifest, job.source))]  # fmt: skip
    full.unlink()
    if shadowed is not None and challenger is not None:
        their_full, their_summary = shadowed
        theirs = {**their_summary, "week": week, "shadow": {**shadow, "champion": summary["model"]}}
        directory = job.out_dir / CHALLENGER_DIR
        _write(directory / SUMMARY, theirs)
        record = record_for(week, CHALLENGER, theirs, challenger.model.manifest, job.source)
        archived.append(archive_list(job.archive, their_full, directory / SUMMARY, record))
        their_full.unlink()
    if job.tracking_uri is not None:
        from scoring.tracking import log_list  # noqa: PLC0415 - mlflow costs seconds; only when configured

        for entry in archived:
            try:
                update_record(entry, mlflow=log_list(job.tracking_uri, entry))
            except Exception as exc:  # the list is written and archived; MLflow being down must not undo that
                log.warning("list not logged to MLflow: %s", exc)
                update_record(entry, mlflow={"error": f"{type(exc).__name__}: {exc}"[:300]})
    return Listed(Outcome(summary, outcome.exit_status), archived)

"""The list archive: every weekly list, kept with its summary and its model, keyed by ISO week and role.

Layout: `ROOT/<week>/<role>/` (e.g. `lists/2026-W49/champion/`) holding `at_risk.csv` (every scored
customer, ranked: the population the outcomes are measured on), `summary.json` (as the team received
it: `rows.listed` is how many were handed out) and `archive.json` (week, role, model version, hashes,
the model's held-out metrics, where it came from, the MLflow run). A list made again for the same week
and role replaces the earlier one in one rename: the team phones from the latest list.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from scoring.weekly import AT_RISK, SUMMARY
from service.manifest import Manifest

ARCHIVE_ENV = "CHURN_LIST_ARCHIVE"
DEFAULT_ARCHIVE = Path("lists")
RECORD = "archive.json"
CHAMPION, CHALLENGER = "champion", "challenger"
ROLES = (CHAMPION, CHALLENGER)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_SWAP = threading.Lock()


class ArchiveError(Exception):
    """The archive cannot be read or written as asked; one line says why."""


def iso_week(day: date) -> str:
    """`2026-W49`: the ISO 8601 week of `day` (weeks start on Monday; week 1 holds the year's first Thursday)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(text: str) -> str:
    """A week given by hand, checked: `2026-W49` exists, `2026-W54` and `2021-W53` do not."""
    found = _WEEK.match(text)
    if found is None:
        raise ArchiveError(f"{text!r} is not an ISO week such as 2026-W49")
    try:
        monday = date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError as exc:
        raise ArchiveError(f"{text} does not exist: {exc}") from exc
    return iso_week(monday)


def archive_root(explicit: Path | None = None) -> Path:
    """`--archive DIR`, else `$CHURN_LIST_ARCHIVE`, else `lists/` (git-ignored)."""
    return explicit or Path(os.environ.get(ARCHIVE_ENV) or DEFAULT_ARCHIVE)


@dataclass(frozen=True)
class Archived:
    path: Path
    week: str
    role: str
    record: dict[str, Any]
    replaced: bool


def record_for(week: str, role: str, summary: dict[str, Any], manifest: Manifest, source: str) -> dict[str, Any]:
    """What the archive says about one list: values from the summary written and the manifest served."""
    return {
        "week": week,
        "role": role,
        "source": source,
        "archived_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "model": {
            "version": manifest.version, "model_sha256": manifest.model_sha256, "estimator": manifest.estimator,
            "mlflow_run_id": manifest.mlflow_run_id, "threshold": manifest.threshold, "config": manifest.config,
            "held_out": dict(manifest.metrics),
        },
        "input_sha256": summary["input"]["sha256"],
        "scored": summary["rows"]["scored"],
        "listed": summary["rows"]["listed"],
        "mlflow": None,
    }  # fmt: skip


def archive_list(root: Path, ranking: Path, summary: Path, record: dict[str, Any]) -> Archived:
    """The full ranking (linked: the caller gives it up, so the archive is its only name) and a copy of the
    summary into `root/<week>/<role>/`, replacing an earlier list for the same week and role in one rename.
    Nothing in the archive shares an inode with a file left in the output directory, which the next list
    rewrites in place."""
    week, role = record["week"], record["role"]
    parent = root / week
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{role}.", dir=parent))
    target = parent / role
    try:
        _link_or_copy(ranking, staging / AT_RISK)
        shutil.copyfile(summary, staging / SUMMARY)
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)
        with _SWAP:  # two lists of one week from one process (the route's worker threads) swap in turn
            retired = parent / f".{role}.retired-{uuid.uuid4().hex}"
            try:
                target.rename(retired)
                replaced = True
            except FileNotFoundError:
                replaced = False
            staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArchiveError(f"cannot archive the list in {target}: {exc.strerror or exc}") from exc
    return Archived(target, week, role, record, replaced)


def update_record(archived: Archived, **changes: Any) -> None:
    archived.record.update(changes)
    (archived.path / RECORD).write_text(json.dumps(archived.record, indent=2) + "\n", encoding="utf-8")


def _link_or_copy(source: Path, target: Path) -> None:
    """For a file its caller removes next: a 1M-row ranking is ~150 MB, and a hard link costs nothing."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@dataclass(frozen=True)
class Entry:
    """One archived list, read back."""

    path: Path
    record: dict[str, Any]
    summary: dict[str, Any]

    @property
    def week(self) -> str:
        return str(self.record["week"])

    @property
    def role(self) -> str:
        return str(self.record["role"])

    @property
    def version(self) -> str:
        return str(self.record["model"]["version"])


def entries(root: Path) -> list[Entry]:
    """Every archived list, by week, the champion's first."""
    if not root.is_dir():
        raise ArchiveError(f"no list archive at {root}: make a weekly list first (python -m scoring weekly)")
    found = []
    for path in sorted(root.glob(f"*/*/{RECORD}")):
        directory = path.parent
        if directory.name.startswith(".") or _WEEK.match(directory.parent.name) is None:
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            summary = json.loads((directory / SUMMARY).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{directory} is not a readable archived list: {exc}") from exc
        found.append(Entry(directory, record, summary))
    return sorted(found, key=lambda e: (e.week, ROLES.index(e.role) if e.role in ROLES else len(ROLES)))

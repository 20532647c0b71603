"""`python -m scoring outcomes OUTCOMES.csv`: the realised quality of every archived list the outcomes reach.

Exit 0: every champion list within noise of its held-out precision in the top 10%; 1: at least one fell
below it by more than the bootstrap interval allows (named on stdout); 2: unusable outcomes or archive.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scoring.archive import ArchiveError, archive_root, entries
from scoring.outcomes import UnusableOutcomes, grade, is_alarm, read_outcomes, write_report
from scoring.tracking import configured_uri, log_run, numbers

DEFAULT_SEED, DEFAULT_RESAMPLES, DEFAULT_LEVEL = 20261202, 2000, 0.95


def add_outcomes(commands: Any) -> None:
    parser = commands.add_parser("outcomes", help="measure the archived lists against what the customers did")
    parser.add_argument("outcomes", type=Path, help="CSV: customer_id, churned (yes/no), as_of (date)[, contacted]")
    parser.add_argument("--archive", type=Path, help="list archive (default $CHURN_LIST_ARCHIVE, else lists/)")
    parser.add_argument("--tracking-uri", help="also log to MLflow (default $MLFLOW_TRACKING_URI; unset: not)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="bootstrap interval level")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(report: dict[str, Any]) -> str:
    whole, gate, held = report["all"], report["gate"], report["held_out"]
    verdict = "DEGRADED" if gate["degraded"] else "within noise"
    lines = [
        f"{report['week']} {report['role']} v{report['model_version']}: {report['joined']} of {report['scored']} "
        f"listed customers have an outcome ({report['outcomes_not_in_list']} outcomes match no listed customer)",
        f"  {'':<22}{'realised':>10}{'held-out':>10}",
        f"  {'precision top 10%':<22}{_pct(whole['top10']['precision']):>10}{_pct(held.get('precision_top10')):>10}",
        f"  {'recall top 10%':<22}{_pct(whole['top10']['recall']):>10}{_pct(held.get('recall_top10')):>10}",
        f"  {'lift top 10%':<22}{_pct(whole['top10']['lift']):>10}",
        f"  {'precision called':<22}{_pct(whole['called']['precision']):>10}   ({whole['called']['customers']} called:"
        f" {report['called_by']})",
        f"  {'recall called':<22}{_pct(whole['called']['recall']):>10}",
        f"  {'lift called':<22}{_pct(whole['called']['lift']):>10}",
        f"  {'ROC AUC':<22}{_pct(whole['roc_auc']):>10}{_pct(held.get('roc_auc')):>10}",
        f"  {'Brier':<22}{_pct(whole['brier']):>10}{_pct(held.get('brier')):>10}",
        f"  {'ECE':<22}{_pct(whole['ece']):>10}",
    ]
    for name in ("contacted", "uncontacted"):
        if name in report:
            part = report[name]
            lines.append(f"  {name:<12} {part['customers']:>6} customers: precision top 10% "
                         f"{_pct(part['top10']['precision'])}, churn rate {_pct(part['base_rate'])}")  # fmt: skip
    lines.append(
        f"  gate ({gate['basis']}, {gate['customers']} in the top 10%): precision {_pct(gate['realised'])}, "
        f"{gate['level']:.0%} bootstrap interval [{_pct(gate['low'])}, {_pct(gate['high'])}] vs held-out "
        f"{gate['held_out']:.3f}: {verdict}"
    )
    return "\n".join(lines)


def _log(uri: str, report: dict[str, Any], files: list[Path], list_run: str | None) -> str:

    params = {k: report[k] for k in ("week", "role", "model_version", "model_sha256", "outcomes_sha256", "called_by")}
    params |= {f"gate.{k}": report["gate"][k] for k in ("basis", "seed", "resamples", "level")}
    metrics = numbers("", {k: v for k, v in report.items() if k in ("joined", "scored", "listed", "top10_k")})
    for name in ("all", "contacted", "uncontacted"):
        if name in report:
            metrics |= numbers(f"realised.{name}.", {k: v for k, v in report[name].items() if k != "reliability"})
    metrics |= numbers("held_out.", report["held_out"])
    metrics |= numbers("gate.", {k: v for k, v in report["gate"].items() if k not in ("seed", "resamples")})
    metrics["gate.degraded"] = float(report["gate"]["degraded"])
    tags = {"churn.week": report["week"], "churn.role": report["role"], "churn.model_version": report["model_version"],
            "churn.kind": "outcomes", "churn.list_run_id": list_run or ""}  # fmt: skip
    name = f"outcomes {report['week']} {report['role']} v{report['model_version']}"
    return log_run(uri, name, params=params, metrics=metrics, tags=tags, artifacts=files)["run_id"]


def run_outcomes(args: argparse.Namespace) -> int:
    try:
        outcomes = read_outcomes(args.outcomes)
        archived = entries(archive_root(args.archive))
    except (UnusableOutcomes, ArchiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uri = configured_uri(args.tracking_uri)
    reports = []
    for entry in archived:
        report = grade(entry, outcomes, seed=args.seed, resamples=args.resamples, level=args.level)
        if report is None:
            continue
        files = write_report(entry, report)
        if uri is not None:
            mlflow = entry.record.get("mlflow") or {}
            report["mlflow_run_id"] = _log(uri, report, files, mlflow.get("run_id"))
            write_report(entry, report, diagram=False)  # the run id beside the evidence it was logged with
        reports.append(report)
        print(render(report))
    if not reports:
        weeks = ", ".join(sorted(outcomes.weeks))
        print(f"error: no archived list has outcomes for the weeks in {args.outcomes.name} ({weeks})", file=sys.stderr)
        return 2
    alarms = [r for r in reports if is_alarm(r)]
    for report in alarms:
        print(f"ALARM: {report['week']} champion v{report['model_version']} realised precision in the top 10% "
              f"{report['gate']['realised']:.3f}, below its held-out {report['gate']['held_out']:.3f} by more "
              "than the bootstrap interval allows")  # fmt: skip
    return 1 if alarms else 0

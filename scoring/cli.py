"""`python -m scoring weekly INPUT --out DIR`: the weekly at-risk list. Exit 0 written, 3 written but too
many rows rejected, 2 unusable input (one line says why). Never a traceback for a bad input.

Every list is archived (`--archive`, default $CHURN_LIST_ARCHIVE or `lists/`) under its ISO week (`--week`,
default this week) and, with a tracking URI, logged to MLflow. `python -m scoring outcomes OUTCOMES.csv`
measures the archived lists against what the customers did."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from threadpoolctl import threadpool_limits

from scoring.archive import ArchiveError, archive_root, parse_week
from scoring.header import UnusableInput
from scoring.listing import ListJob, make_list
from scoring.memory import reuse_large_blocks
from scoring.outcomes_cli import add_outcomes, run_outcomes
from scoring.runs import Selection
from scoring.table import render_table
from scoring.tracking import configured_uri
from scoring.weekly import UNUSABLE, Engine, Scorer, run_weekly
from service.manifest import MODEL_DIR
from service.model_store import LoadedModel, ModelLoadError, load_model_dir
from service.profile import PROFILE_FILE, ProfileError, load_profile
from service.schemas import build_customer_model
from service.validation import MAX_BATCH, Validator

CHALLENGER_ENV = "CHURN_CHALLENGER_DIR"


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive count")
    return value


def _week(text: str) -> str:
    try:
        return parse_week(text)
    except ArchiveError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scoring", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    weekly = commands.add_parser("weekly", help="rank an export (CSV or Parquet) into the list to phone")
    weekly.add_argument("input", help="the customer export, CSV or Parquet (with --engine spark: any path Spark reads)")
    weekly.add_argument("--out", type=Path, required=True, help="directory for at_risk.csv, rejected.csv, ...")
    size = weekly.add_mutually_exclusive_group()
    size.add_argument("--top", type=_positive, help="list only the N most at risk")
    size.add_argument("--min-probability", type=_share, help="list only customers at or above P")
    weekly.add_argument("--max-rejected-share", type=_share, default=0.01, help="exit 3 above it (default 0.01)")
    # The service's own defaults (its settings default to the same constants): the command scores with the model
    # and profile the service would serve. The settings class itself is not imported: pydantic-settings and the
    # asyncio it imports cost about 60 ms of the command's start-up, before a row is read.
    weekly.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    weekly.add_argument("--profile", type=Path, default=PROFILE_FILE)
    weekly.add_argument("--no-report", action="store_true", help="skip report.html")
    weekly.add_argument("--week", type=_week, help="archive under this ISO week, e.g. 2026-W49 (default: this week)")
    weekly.add_argument("--archive", type=Path, help="list archive (default $CHURN_LIST_ARCHIVE, else lists/)")
    weekly.add_argument("--tracking-uri", help="also log the list to MLflow (default $MLFLOW_TRACKING_URI; unset: not)")
    weekly.add_argument(
        "--challenger-dir", type=Path, help="a second model directory scored in shadow (default $CHURN_CHALLENGER_DIR)"
    )
    engine = weekly.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: this machine's cores (default); spark: partitions of a Spark cluster",
    )
    engine.add_argument("--master", default="local[*]", help="the Spark master URL (default local[*])")
    engine.add_argument(
        "--staging",
        type=Path,
        help="Spark: where partitions' answers are staged for the driver (default: inside --out)",
    )
    add_outcomes(commands)
    return parser


def _challenger(
    directory: Path | None, profile_sha256: str, features: tuple[str, ...]
) -> tuple[LoadedModel | None, str]:
    """The shadow model, or None (with a warning) when it cannot be loaded: it never stops the list."""
    if directory is None:
        return None, "no challenger configured"
    try:
        return load_model_dir(directory, profile_sha256, features), ""
    except ModelLoadError as exc:
        print(f"warning: challenger not scored: {exc}", file=sys.stderr)
        return None, f"the challenger could not be loaded: {exc.reason}"


@contextlib.contextmanager
def _engine(args: argparse.Namespace) -> Iterator[Engine]:
    if args.engine == "local":
        yield run_weekly
        return
    from scoring.spark import SparkUnavailable, spark_engine  # noqa: PLC0415 - pyspark only when asked for

    try:
        with spark_engine(args.master, args.staging) as engine:
            yield engine
    except SparkUnavailable as exc:
        raise UnusableInput(str(exc)) from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "outcomes":
        return run_outcomes(args)
    try:
        profile, profile_sha256 = load_profile(args.profile)
        model = load_model_dir(args.model_dir, profile_sha256, tuple(profile.features), from_plan=True)
    except (ProfileError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNUSABLE
    validator = Validator(profile, build_customer_model(profile), MAX_BATCH)
    scorer = Scorer(validator, model)
    reuse_large_blocks()  # this process is the batch's own (the service's allocator is left as it is)
    challenger_dir = args.challenger_dir or (Path(d) if (d := os.environ.get(CHALLENGER_ENV)) else None)
    shadow, why_not = _challenger(challenger_dir, profile_sha256, tuple(profile.features))
    try:
        # Two threads score side by side already: a BLAS pool under each would only spin (measured at 1M rows
        # without OPENBLAS_NUM_THREADS=1: 7.5-7.7 s of CPU against 5.5-5.8 s with it, 4.3-4.4 s of wall against
        # 3.7-3.9 s).
        with threadpool_limits(limits=1), _engine(args) as engine:
            job = ListJob(
                args.input, args.out, archive_root(args.archive),
                "command", selection=Selection(args.top, args.min_probability),
                max_rejected_share=args.max_rejected_share, week=args.week,
                tracking_uri=configured_uri(args.tracking_uri), engine=engine,
            )  # fmt: skip
            listed = make_list(job, scorer, Scorer(validator, shadow) if shadow is not None else None, why_not)
    except (UnusableInput, ArchiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNUSABLE
    outcome = listed.outcome
    if not args.no_report:
        from scoring.report import write_report  # noqa: PLC0415 - matplotlib costs ~0.5 s; only when asked

        write_report(outcome.summary, args.out)
    print(render_table(outcome.summary, args.out))
    for entry in listed.archived:
        mlflow = entry.record["mlflow"]
        logged = f"MLflow run {mlflow['run_id']}" if mlflow and "run_id" in mlflow else "not logged to MLflow"
        print(f"archived   {entry.role} v{entry.record['model']['version']} -> {entry.path}/  ({logged})")
    return outcome.exit_status

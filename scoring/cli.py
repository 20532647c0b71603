"""`python -m scoring weekly INPUT --out DIR`: the weekly at-risk list. Exit 0 written, 3 written but too
many rows rejected, 2 unusable input (one line says why). Never a traceback for a bad input."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scoring.header import UnusableInput
from scoring.runs import Selection
from scoring.table import render_table
from scoring.weekly import UNUSABLE, Scorer, run_weekly
from service.model_store import ModelLoadError, load_model_dir
from service.profile import ProfileError, load_profile
from service.schemas import build_customer_model
from service.settings import Settings
from service.validation import Validator

# The service's own defaults: the command scores with the model and profile the service would serve.
_DEFAULTS = Settings.model_fields
DEFAULT_MODEL_DIR: Path = _DEFAULTS["model_dir"].default
DEFAULT_PROFILE: Path = _DEFAULTS["data_profile"].default
MAX_BATCH: int = _DEFAULTS["max_batch"].default  # sizes only the JSON envelope, which the command never reads


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scoring", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    weekly = commands.add_parser("weekly", help="rank an export (CSV or Parquet) into the list to phone")
    weekly.add_argument("input", type=Path, help="the customer export, CSV or Parquet")
    weekly.add_argument("--out", type=Path, required=True, help="directory for at_risk.csv, rejected.csv, ...")
    size = weekly.add_mutually_exclusive_group()
    size.add_argument("--top", type=_positive, help="list only the N most at risk")
    size.add_argument("--min-probability", type=_share, help="list only customers at or above P")
    weekly.add_argument("--max-rejected-share", type=_share, default=0.01, help="exit 3 above it (default 0.01)")
    weekly.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    weekly.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    weekly.add_argument("--no-report", action="store_true", help="skip report.html")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        profile, profile_sha256 = load_profile(args.profile)
        model = load_model_dir(args.model_dir, profile_sha256, tuple(profile.features), from_plan=True)
    except (ProfileError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNUSABLE
    scorer = Scorer(Validator(profile, build_customer_model(profile), MAX_BATCH), model)
    try:
        outcome = run_weekly(
            args.input,
            args.out,
            scorer,
            selection=Selection(args.top, args.min_probability),
            max_rejected_share=args.max_rejected_share,
        )
    except UnusableInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNUSABLE
    if not args.no_report:
        from scoring.report import write_report  # noqa: PLC0415 - matplotlib costs ~0.5 s; only when asked

        write_report(outcome.summary, args.out)
    print(render_table(outcome.summary, args.out))
    return outcome.exit_status

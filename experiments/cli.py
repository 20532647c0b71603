"""Command line, the data team's workflow: run, audit, compare, reproduce, challenger, promote (and roll back).
`profile` regenerates the data profile.

The MLflow-backed commands import their modules only when called: `import mlflow` costs seconds, and
`profile` (and the test fixtures that import this module) should not pay for it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.data import DEFAULT_DATA_PATH, DEFAULT_DATA_SHA256, load_dataset
from experiments.model_dir import DEFAULT_MODEL_DIR
from experiments.profile import DEFAULT_PROFILE_PATH, build_profile, write_profile
from service.manifest import MODEL_NAME

DEFAULT_CONFIG = Path("experiments/configs/baseline.toml")
DEFAULT_CHALLENGER_DIR = Path("models/challenger")
# scoring.archive's names, repeated so that `profile` does not import the scoring package.
ARCHIVE_ENV, DEFAULT_LIST_ARCHIVE = "CHURN_LIST_ARCHIVE", Path("lists")


def _profile(args: argparse.Namespace) -> int:
    profile = build_profile(load_dataset(args.data, args.sha256))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != profile.to_json():
            print(f"{args.output} is stale: regenerate it with `python -m experiments profile`")
            return 1
        print(f"{args.output} is current")
        return 0
    write_profile(profile, args.output)
    print(f"wrote {args.output}: {len(profile.features)} features, {len(profile.rules)} rules")
    return 0


def _run(args: argparse.Namespace) -> int:
    from experiments.runs import run_experiment  # noqa: PLC0415 - see the module docstring
    from experiments.store import Store  # noqa: PLC0415

    store = Store.at(args.tracking_uri)
    outcome = run_experiment(store, args.config)
    print(outcome.summary())
    print(f"store: {store.uri}")
    return 0 if outcome.audit.passed else 1


def _audit(args: argparse.Namespace) -> int:
    from experiments.audit import audit_run  # noqa: PLC0415
    from experiments.store import Store  # noqa: PLC0415

    report = audit_run(Store.at(args.tracking_uri), args.run_id)
    print(report.verdict())
    return 0 if report.passed else 1


def _compare(args: argparse.Namespace) -> int:
    from experiments.compare import UncontrolledComparison, compare  # noqa: PLC0415
    from experiments.store import Store  # noqa: PLC0415

    try:
        comparison = compare(Store.at(args.tracking_uri), args.baseline, args.variant, args.resamples)
    except UncontrolledComparison as exc:
        print(f"refused: {exc}")
        return 1
    print(comparison.table())
    audits = (comparison.baseline.audit, comparison.variant.audit)
    for report in audits:
        print(report.verdict())
    return 0 if all(report.passed for report in audits) else 1


def _reproduce(args: argparse.Namespace) -> int:
    from experiments.reproduce import RERUN_LINE, ReproductionError, reproduce, rerun  # noqa: PLC0415
    from experiments.store import Store  # noqa: PLC0415

    store = Store.at(args.tracking_uri)
    if args.rerun_only:  # the child `reproduce` starts under a forced kernel: rerun, and say which run it made
        rerun_id, audit = rerun(store, args.run_id)
        print(f"{RERUN_LINE}{rerun_id}")
        return 0 if audit.passed else 1
    try:
        reproduction = reproduce(store, args.run_id)
    except ReproductionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(reproduction.table())
    return 0 if reproduction.passed else 1


def _promote(args: argparse.Namespace) -> int:
    from experiments.promote import PromotionRefused, promote, rollback  # noqa: PLC0415
    from experiments.store import Store  # noqa: PLC0415

    if args.rollback == (args.run_id is not None):
        print("give a RUN_ID to promote, or --rollback (not both)")
        return 2
    store = Store.at(args.tracking_uri)
    try:
        if args.rollback:
            done = rollback(store, args.model_dir, args.profile, args.model_name)
        else:
            archive = args.archive or Path(os.environ.get(ARCHIVE_ENV) or DEFAULT_LIST_ARCHIVE)
            done = promote(store, args.run_id, args.model_dir, args.profile, args.model_name, archive=archive)
    except PromotionRefused as exc:
        print(f"refused: {exc}")
        return 1
    print(done.summary())
    return 0


def _challenger(args: argparse.Namespace) -> int:
    from experiments.promote import PromotionRefused, stage_challenger  # noqa: PLC0415
    from experiments.store import Store  # noqa: PLC0415

    try:
        manifest = stage_challenger(Store.at(args.tracking_uri), args.run_id, args.challenger_dir, args.profile)
    except PromotionRefused as exc:
        print(f"refused: {exc}")
        return 1
    print(
        f"staged run {args.run_id} as the challenger in {args.challenger_dir}: version {manifest.version}, model "
        f"SHA-256 {manifest.model_sha256[:12]}…; serve it in shadow with CHURN_CHALLENGER_DIR={args.challenger_dir}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")

    profile = commands.add_parser("profile", help="regenerate data_profile.json from the training data")
    profile.add_argument("--data", type=Path, default=DEFAULT_DATA_PATH)
    profile.add_argument("--sha256", default=DEFAULT_DATA_SHA256, help="expected SHA-256 of the data file")
    profile.add_argument("--output", type=Path, default=DEFAULT_PROFILE_PATH)
    profile.add_argument("--check", action="store_true", help="exit 1 if the committed profile is stale")
    profile.set_defaults(handler=_profile)

    run = commands.add_parser("run", parents=[store], help="train a config, log it to MLflow, audit the run")
    run.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    run.set_defaults(handler=_run)

    audit = commands.add_parser("audit", parents=[store], help="check a run's params, metrics and data hash")
    audit.add_argument("run_id")
    audit.set_defaults(handler=_audit)

    comparison = commands.add_parser("compare", parents=[store], help="a controlled baseline-vs-variant experiment")
    comparison.add_argument("baseline", type=Path)
    comparison.add_argument("variant", type=Path)
    comparison.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    comparison.set_defaults(handler=_compare)

    repro = commands.add_parser(
        "reproduce",
        parents=[store],
        help="re-run a run's logged config: bit-identical under its kernel, or within 1e-9",
    )
    repro.add_argument("run_id")
    repro.add_argument("--rerun-only", action="store_true", help=argparse.SUPPRESS)  # the child of a reproduce
    repro.set_defaults(handler=_reproduce)

    promote = commands.add_parser("promote", parents=[store], help="serve an audited run (or --rollback)")
    promote.add_argument("run_id", nargs="?")
    promote.add_argument("--rollback", action="store_true", help="serve the previous champion again")
    promote.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    promote.add_argument("--profile", type=Path, default=DEFAULT_PROFILE_PATH)
    promote.add_argument("--model-name", default=MODEL_NAME, help=f"registered model name (default {MODEL_NAME})")
    promote.add_argument(
        "--archive",
        type=Path,
        help="list archive holding the shadow evidence (default $CHURN_LIST_ARCHIVE, else lists/)",
    )
    promote.set_defaults(handler=_promote)

    challenger = commands.add_parser("challenger", parents=[store], help="stage an audited run to score in shadow")
    challenger.add_argument("run_id")
    challenger.add_argument("--challenger-dir", type=Path, default=DEFAULT_CHALLENGER_DIR)
    challenger.add_argument("--profile", type=Path, default=DEFAULT_PROFILE_PATH)
    challenger.set_defaults(handler=_challenger)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    try:
        return int(handler(args))
    except Exception as exc:
        # A store that cannot answer (unknown run id, unreachable server) or a run without what the command
        # needs is a usage error with a message, not a traceback. Anything else is a bug: re-raised.
        mlflow_errors = sys.modules.get("mlflow.exceptions")
        if isinstance(exc, LookupError) or (mlflow_errors and isinstance(exc, mlflow_errors.MlflowException)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise

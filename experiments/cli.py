"""Command line: `profile` regenerates data_profile.json; `train` fits a config and writes a model directory."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from experiments.config import load_config
from experiments.data import DEFAULT_DATA_PATH, DEFAULT_DATA_SHA256, load_dataset
from experiments.model_dir import DEFAULT_MODEL_DIR, export_model_dir
from experiments.profile import DEFAULT_PROFILE_PATH, build_profile, write_profile
from experiments.train import train

DEFAULT_CONFIG = Path("experiments/configs/baseline.toml")


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


def _train(args: argparse.Namespace) -> int:
    result = train(load_config(args.config))
    manifest = export_model_dir(result, args.output, args.profile)
    print(json.dumps({"model_dir": str(args.output), "version": manifest.version, "metrics": manifest.metrics}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    profile = commands.add_parser("profile", help="regenerate data_profile.json from the training data")
    profile.add_argument("--data", type=Path, default=DEFAULT_DATA_PATH)
    profile.add_argument("--sha256", default=DEFAULT_DATA_SHA256, help="expected SHA-256 of the data file")
    profile.add_argument("--output", type=Path, default=DEFAULT_PROFILE_PATH)
    profile.add_argument("--check", action="store_true", help="exit 1 if the committed profile is stale")
    profile.set_defaults(handler=_profile)

    train_cmd = commands.add_parser("train", help="train a config and write a serving model directory")
    train_cmd.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    train_cmd.add_argument("--output", type=Path, default=DEFAULT_MODEL_DIR)
    train_cmd.add_argument("--profile", type=Path, default=DEFAULT_PROFILE_PATH)
    train_cmd.set_defaults(handler=_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    return int(handler(args))

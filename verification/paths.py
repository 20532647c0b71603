"""The committed artefacts the checks verify, as absolute paths, so a check runs the same from any directory."""

from __future__ import annotations

from pathlib import Path

from service.manifest import MODEL_DIR as SERVED_MODEL_DIR

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "openapi.json"
PROFILE = ROOT / "data_profile.json"
MODEL_DIR = ROOT / SERVED_MODEL_DIR
REQUIREMENTS_IN = ROOT / "requirements.in"
REQUIREMENTS_TXT = ROOT / "requirements.txt"
REPORT = ROOT / "verification-report.json"
BASELINE_CONFIG = ROOT / "experiments" / "configs" / "baseline.toml"  # the served model's experiment config
# Where the project's own Python lives: the import scan reads these, and these names are first-party.
SOURCE_DIRS = ("service", "experiments", "verification", "tests", "benchmarks")

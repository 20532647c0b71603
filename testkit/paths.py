"""The repository's committed files as absolute paths, so every tool runs the same from any directory."""

from __future__ import annotations

from pathlib import Path

from experiments.columns import DEFAULT_DATA_PATH
from service.manifest import MODEL_DIR as SERVED_MODEL_DIR
from service.profile import PROFILE_FILE

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "openapi.json"
DATA = ROOT / DEFAULT_DATA_PATH
PROFILE_PATH = ROOT / PROFILE_FILE
MODEL_DIR = ROOT / SERVED_MODEL_DIR
REQUIREMENTS_IN = ROOT / "requirements.in"
REQUIREMENTS_TXT = ROOT / "requirements.txt"
REPORT = ROOT / "verification-report.json"
BASELINE_CONFIG = ROOT / "experiments" / "configs" / "baseline.toml"  # the served model's experiment config
MONITORING = ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus.yml"
ALERT_RULES = MONITORING / "alerts.yml"
ALERT_RULE_TESTS = MONITORING / "tests" / "alerts_test.yml"
ALERTMANAGER_CONFIG = MONITORING / "alertmanager.yml"
BLACKBOX_CONFIG = MONITORING / "blackbox.yml"
# Where the project's own Python lives: the import scan reads these, and these names are first-party.
SOURCE_DIRS = ("service", "experiments", "scoring", "verification", "testkit", "tests", "benchmarks")

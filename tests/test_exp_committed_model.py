"""One training path: the committed `models/churn/` is exactly what `run baseline` + `promote` produce.

Promoting a fresh baseline run over a copy of the committed directory must leave the model bytes, and so the
serving version, unchanged. Only `created_at` and `mlflow_run_id` may differ: the committed manifest names
the run it was promoted from, which lives in the promoting engineer's local store, not in git.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments.cli import DEFAULT_CONFIG
from experiments.model_dir import DEFAULT_MODEL_DIR
from experiments.profile import DEFAULT_PROFILE_PATH
from experiments.promote import promote
from experiments.runs import run_experiment
from experiments.store import Store
from service.manifest import MODEL_FILE, read_manifest
from testkit.paths import ROOT

pytest_plugins = ["tests.exp_fixtures"]  # `store` (a private MLflow store per test) and `make_config`

PER_PROMOTION = {"created_at", "mlflow_run_id"}


def test_the_committed_model_is_what_run_baseline_and_promote_produce(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # exactly the documented commands: repo-relative config, data and profile paths
    committed = ROOT / DEFAULT_MODEL_DIR
    target = tmp_path / "churn"
    shutil.copytree(committed, target)

    outcome = run_experiment(store, DEFAULT_CONFIG)
    promote(store, outcome.run_id, target, DEFAULT_PROFILE_PATH)

    assert (target / MODEL_FILE).read_bytes() == (committed / MODEL_FILE).read_bytes()
    ours, theirs = read_manifest(target), read_manifest(committed)
    assert ours.model_dump(exclude=PER_PROMOTION) == theirs.model_dump(exclude=PER_PROMOTION)
    assert theirs.mlflow_run_id is not None  # the committed model says which run it was promoted from

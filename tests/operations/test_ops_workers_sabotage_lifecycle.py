"""Sabotage twins of the two-worker checks on a promotion, a drain and a start-up (test_ops_workers.py): the
service run from a copy of the code with one line broken (tests.utils.planted), or with a setting that breaks
the behaviour, and the same check made to fail. Each starts its own two-worker service; the twins on counts and
/health are in test_ops_workers_sabotage.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.train import TrainResult
from tests.utils.models import publish, retrained
from tests.utils.ops_models import holding
from tests.utils.workers import (
    UNSTARTABLE_WORKER,
    drain_failures,
    planted,
    planted_service,
    promotion_failures,
    serving_workers,
    start_failures,
)

pytestmark = [pytest.mark.slow, pytest.mark.long(32)]


def test_a_promotion_that_does_not_reach_the_workers_is_caught(
    tmp_path: Path, model_dir: Path, baseline_result: TrainResult
) -> None:
    # The watcher that loads a promoted model, slowed to once an hour: only a health check would load it.
    with serving_workers(tmp_path, model_dir, reload_interval=3600) as service:
        failures, _ = promotion_failures(service, model_dir, retrained(baseline_result, C=0.1), bound=3)
    assert failures
    assert "timed out" in failures[0]


def test_workers_killed_instead_of_drained_are_caught(
    tmp_path: Path, model_dir: Path, baseline_result: TrainResult
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    publish(holding(baseline_result, started, release), model_dir, version="held")
    with serving_workers(tmp_path, model_dir, command=planted(tmp_path, "no-drain")) as service:
        failures, _ = drain_failures(service, started, release)
    assert any("the requests in flight got" in failure for failure in failures), failures


def test_a_worker_start_failure_that_loops_forever_is_caught(tmp_path: Path, model_dir: Path) -> None:
    # As the check's planted copy, and the worker's refusal turned back into a crash, which uvicorn restarts.
    command = planted_service(
        tmp_path, *UNSTARTABLE_WORKER, also=("        sys.exit(STARTUP_FAILURE)\n", "        raise\n")
    )
    failures = start_failures(tmp_path, model_dir, command)
    assert failures
    assert "restarted the worker" in failures[0]

"""Sabotage twins of the two-worker checks (test_ops_workers.py): the service run from a copy of the code with
one line broken (tests.utils.planted), or with a setting that breaks the behaviour, and the same check made to
fail. Each starts its own two-worker service, so each costs a start (about 10 s on 2 busy cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.train import TrainResult
from service.manifest import MODEL_FILE
from testkit.process import wait_for
from testkit.workers import counted_by_worker, metrics_dir
from tests.utils.models import publish, retrained
from tests.utils.ops_models import holding
from tests.utils.workers import (
    PREDICTIONS,
    SETTLE_SECONDS,
    UNSTARTABLE_WORKER,
    both_took_part,
    count_failures,
    drain_failures,
    health_failures,
    kill_failures,
    planted_service,
    promotion_failures,
    serving_workers,
    start_failures,
)

pytestmark = pytest.mark.slow

PLANTS = {
    # Each worker exports only its own counts, as without multiprocess mode.
    "no-aggregation": (
        "service/metrics.py",
        "            self.registry.register(_WorkersCollector(multiprocess_dir))\n",
        "            self.registry = self.own\n",
    ),
    # A dead worker's files deleted without being folded into the archive.
    "no-fold": (
        "service/metrics_files.py",
        "                    archive.write_value(key, archived + value, timestamp)\n",
        "                    pass\n",
    ),
    # Readiness remembered from a worker's first answer instead of read from the disk each time.
    "cached-readiness": (
        "service/dataplane.py",
        "        health = self.store.health()\n",
        '        health = self.__dict__.setdefault("_first", self.store.health())\n',
    ),
    # A supervisor that kills its workers on SIGTERM instead of letting them drain.
    "no-drain": (
        "service/workers.py",
        "class WorkerProtocol(GuardedH11Protocol):\n",
        "    def terminate_all(self) -> None:\n        for process in self.processes:\n            process.kill()\n\n\n"
        "class WorkerProtocol(GuardedH11Protocol):\n",
    ),
}


def planted(tmp_path: Path, name: str) -> tuple[str, ...]:
    return planted_service(tmp_path, *PLANTS[name])


def test_workers_that_do_not_add_up_their_counts_are_caught(tmp_path: Path, model_dir: Path) -> None:
    with serving_workers(tmp_path, model_dir, command=planted(tmp_path, "no-aggregation")) as service:
        failures = count_failures(service, PREDICTIONS)
        assert both_took_part(counted_by_worker(metrics_dir(service), "churn_predictions_total"))
    assert failures, "one scrape still counted every prediction"
    assert "one scrape counted" in failures[0]


def test_a_dead_worker_whose_counts_are_dropped_is_caught(tmp_path: Path, model_dir: Path) -> None:
    with serving_workers(tmp_path, model_dir, command=planted(tmp_path, "no-fold")) as service:
        count_failures(service, PREDICTIONS)  # both workers count some
        failures = kill_failures(service)
    assert any("went from" in failure for failure in failures), failures


def test_a_worker_with_remembered_readiness_is_caught(tmp_path: Path, model_dir: Path) -> None:
    with serving_workers(tmp_path, model_dir, command=planted(tmp_path, "cached-readiness")) as service:
        directory = metrics_dir(service)

        def both_remember_ready() -> bool:  # each worker answers (and remembers) ready, until both have
            ready = health_failures(service, expected=200) == []
            return ready and both_took_part(counted_by_worker(directory, "churn_http_requests_total", route="/health"))

        wait_for(both_remember_ready, SETTLE_SECONDS, "both workers to answer /health")
        (model_dir / MODEL_FILE).unlink()
        failures = health_failures(service)
    assert failures, "every /health answered 503"


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

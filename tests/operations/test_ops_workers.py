"""`CHURN_WORKERS=2`, black box: two uvicorn workers on one port answer as one service.

Requests go one after another on fresh connections, which the kernel hands to the workers in turn (a burst
of simultaneous connects, by contrast, is taken by one worker's accept loop). Each check also reads each
worker's own counter file, to prove that both workers took part, so no check is passed by one worker alone.
Sabotage twins: test_ops_workers_sabotage.py (counts, /health), test_ops_workers_sabotage_lifecycle.py.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.train import TrainResult
from service.manifest import MODEL_FILE
from testkit.client import fetch
from testkit.process import wait_for
from testkit.service import Service
from testkit.workers import counted_by_worker, metrics_dir
from tests.utils.models import publish, retrained
from tests.utils.ops_figures import report
from tests.utils.ops_models import holding
from tests.utils.workers import (
    PREDICTIONS,
    RELOAD_SECONDS,
    SETTLE_SECONDS,
    UNSTARTABLE_WORKER,
    WORKERS,
    count_failures,
    drain_failures,
    health_failures,
    kill_failures,
    planted_service,
    promotion_failures,
    serving_workers,
    start_failures,
    until_both_answered,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, _session_model_dir: Path) -> Iterator[tuple[Service, Path]]:
    work = tmp_path_factory.mktemp("workers")
    model_dir = work / "models" / "churn"
    shutil.copytree(_session_model_dir, model_dir)
    with serving_workers(work, model_dir) as service:
        yield service, model_dir


def test_one_scrape_counts_every_workers_predictions(two_workers: tuple[Service, Path]) -> None:
    service, _ = two_workers
    counts = functools.partial(counted_by_worker, metrics_dir(service), "churn_predictions_total")
    assert until_both_answered(lambda: count_failures(service, PREDICTIONS), counts) == []


def test_a_promoted_model_reaches_every_worker(
    two_workers: tuple[Service, Path], baseline_result: TrainResult, request: pytest.FixtureRequest
) -> None:
    service, model_dir = two_workers
    failures, figures = promotion_failures(service, model_dir, retrained(baseline_result, C=0.1))
    assert failures == []
    report(request, "workers_promotion", {"workers": WORKERS, "reload_interval_s": RELOAD_SECONDS, **figures})


def test_a_deleted_model_file_makes_every_worker_not_ready(two_workers: tuple[Service, Path]) -> None:
    service, model_dir = two_workers
    wait_for(lambda: fetch(service.port, "GET", "/health").status == 200, SETTLE_SECONDS, "a ready start")
    counts = functools.partial(counted_by_worker, metrics_dir(service), "churn_http_requests_total", route="/health")
    saved = model_dir.parent / "saved.joblib"
    (model_dir / MODEL_FILE).rename(saved)
    try:
        assert until_both_answered(lambda: health_failures(service), counts) == []
    finally:
        saved.rename(model_dir / MODEL_FILE)
    wait_for(lambda: fetch(service.port, "GET", "/health").status == 200, SETTLE_SECONDS, "ready again")


def test_a_killed_worker_is_replaced_and_its_counts_are_kept(
    two_workers: tuple[Service, Path], request: pytest.FixtureRequest
) -> None:
    service, _ = two_workers
    directory = metrics_dir(service)
    started = time.monotonic()
    assert kill_failures(service) == []
    replaced_after = time.monotonic() - started
    assert count_failures(service, PREDICTIONS) == []  # the replacement counts into the same sum
    files = sorted(path.name for path in directory.glob("*.db"))
    assert "counter_archive.db" in files
    assert len([name for name in files if name.startswith("counter_")]) <= WORKERS + 1, files
    report(request, "workers_sigkill", {"workers": WORKERS, "kill_to_replaced_and_folded_s": round(replaced_after, 2)})


def test_sigterm_drains_every_worker_and_exits_0(
    tmp_path: Path, model_dir: Path, baseline_result: TrainResult, request: pytest.FixtureRequest
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    publish(holding(baseline_result, started, release), model_dir, version="held")
    with serving_workers(tmp_path, model_dir) as service:
        failures, figures = drain_failures(service, started, release)
    assert failures == []
    report(request, "workers_sigterm", {"workers": WORKERS, **figures})


def test_a_worker_that_cannot_start_stops_the_service_with_status_3(tmp_path: Path, model_dir: Path) -> None:
    assert start_failures(tmp_path, model_dir, planted_service(tmp_path, *UNSTARTABLE_WORKER)) == []

"""`CHURN_WORKERS=2`, black box: two uvicorn workers on one port answer as one service.

Requests go one after another on fresh connections, which the kernel hands to the workers in turn (a burst
of simultaneous connects, by contrast, is taken by one worker's accept loop). Each check also reads each
worker's own counter file, to prove that both workers took part, so no check is passed by one worker alone.
Sabotage twins: test_ops_workers_sabotage.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.model_dir import write_model_dir
from experiments.train import TrainResult
from service.manifest import MODEL_FILE, read_manifest
from testkit.client import Answer, fetch
from testkit.customers import customer
from testkit.process import wait_for
from testkit.service import Service, launch
from tests.utils.models import publish, retrained
from tests.utils.ops_figures import report
from tests.utils.ops_models import holding
from tests.utils.workers import counted_by_worker, metrics_dir, scraped, worker_pids, workers_started

pytestmark = pytest.mark.slow

WORKERS = 2
PREDICTIONS = 40
RELOAD_SECONDS = 0.2
SETTLE_SECONDS = 20.0  # bound on a promoted model reaching the workers, and on a worker's replacement


def predictions_counted(service: Service) -> float:
    return scraped(service.port, "churn_predictions_total")


def both_took_part(counts: dict[str, float]) -> bool:
    return sum(1 for name, count in counts.items() if name != "archive" and count > 0) >= WORKERS


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, _session_model_dir: Path) -> Iterator[tuple[Service, Path]]:
    work = tmp_path_factory.mktemp("workers")
    model_dir = work / "models" / "churn"
    shutil.copytree(_session_model_dir, model_dir)
    with launch(work, model_dir=model_dir, workers=WORKERS, reload_interval_seconds=RELOAD_SECONDS) as service:
        wait_for(lambda: workers_started(service) == WORKERS, SETTLE_SECONDS, f"{WORKERS} workers serving")
        yield service, model_dir


def count_failures(service: Service, predictions: int) -> list[str]:
    """After `predictions` more answered /predict requests, one scrape must count exactly that many more."""
    before = predictions_counted(service)
    answers = [fetch(service.port, "POST", "/predict", customer()).status for _ in range(predictions)]
    failures = [f"{answers.count(200)} of {predictions} answered 200"] if answers.count(200) != predictions else []
    counted = predictions_counted(service) - before
    if counted != predictions:
        failures.append(f"one scrape counted {counted:g} new predictions, not {predictions}")
    return failures


def test_one_scrape_counts_every_workers_predictions(two_workers: tuple[Service, Path]) -> None:
    service, _ = two_workers
    assert count_failures(service, PREDICTIONS) == []
    assert both_took_part(counted_by_worker(metrics_dir(service), "churn_predictions_total"))


def test_a_promoted_model_reaches_every_worker(
    two_workers: tuple[Service, Path], baseline_result: TrainResult, request: pytest.FixtureRequest
) -> None:
    service, model_dir = two_workers
    previous, previous_bytes = read_manifest(model_dir), (model_dir / MODEL_FILE).read_bytes()
    promoted = time.monotonic()
    publish(retrained(baseline_result, C=0.1), model_dir, version="promoted")

    def version() -> str:
        return str(fetch(service.port, "POST", "/predict", customer()).json()["model_version"])

    wait_for(lambda: version() == "promoted", SETTLE_SECONDS, "the promoted version to answer", interval=0.05)
    first = time.monotonic() - promoted
    # Each worker's watcher loads it within its reload interval: then 20 answers in a row are all the new version.
    wait_for(
        lambda: [version() for _ in range(20)] == ["promoted"] * 20,
        SETTLE_SECONDS,
        "20 answers in a row from the promoted version",
        interval=RELOAD_SECONDS,
    )
    every = time.monotonic() - promoted
    by_worker = counted_by_worker(metrics_dir(service), "churn_predictions_total", model_version="promoted")
    assert both_took_part(by_worker), by_worker
    assert fetch(service.port, "GET", "/health/ready").status == 200
    report(
        request,
        "workers_promotion",
        {
            "workers": WORKERS,
            "reload_interval_s": RELOAD_SECONDS,
            "promotion_to_first_answer_s": round(first, 3),
            "promotion_to_20_in_a_row_s": round(every, 3),
        },
    )
    write_model_dir(model_dir, previous_bytes, previous)  # as before, for the next checks


def health_failures(service: Service, requests: int = 20) -> list[str]:
    """`requests` consecutive /health answers must all be 503 (the model file is gone)."""
    statuses = [fetch(service.port, "GET", "/health").status for _ in range(requests)]
    return [] if statuses == [503] * requests else [f"/health answered {statuses}"]


def test_a_deleted_model_file_makes_every_worker_not_ready(two_workers: tuple[Service, Path]) -> None:
    service, model_dir = two_workers
    wait_for(lambda: fetch(service.port, "GET", "/health").status == 200, SETTLE_SECONDS, "a ready start")
    directory = metrics_dir(service)
    before = counted_by_worker(directory, "churn_http_requests_total", route="/health", status="503")
    saved = model_dir.parent / "saved.joblib"
    (model_dir / MODEL_FILE).rename(saved)
    try:
        assert health_failures(service) == []
        after = counted_by_worker(directory, "churn_http_requests_total", route="/health", status="503")
        assert both_took_part({name: after[name] - before.get(name, 0) for name in after}), after
    finally:
        saved.rename(model_dir / MODEL_FILE)
    wait_for(lambda: fetch(service.port, "GET", "/health").status == 200, SETTLE_SECONDS, "ready again")


def kill_failures(service: Service) -> list[str]:
    """SIGKILL one worker: it must be replaced, and no count in one scrape may go down."""
    served = fetch(service.port, "POST", "/predict", customer())
    assert served.status == 200
    before = {name: scraped(service.port, name) for name in ("churn_predictions_total", "churn_http_requests_total")}
    pids = worker_pids(service)
    victim = max(pids)
    started = workers_started(service)
    os.kill(victim, signal.SIGKILL)
    failures = []

    def replaced() -> set[int] | None:
        now = worker_pids(service)
        return now if victim not in now and len(now) == WORKERS and workers_started(service) > started else None

    try:
        wait_for(replaced, SETTLE_SECONDS, "the killed worker to be replaced")
    except AssertionError as exc:
        return [str(exc)]
    # The replacement answers too (fresh connections alternate), and the killed worker's files are folded.
    wait_for(lambda: not (metrics_dir(service) / f"counter_{victim}.db").exists(), SETTLE_SECONDS, "the fold")
    for _ in range(3 * WORKERS):
        after = {name: scraped(service.port, name) for name in before}
        failures += [
            f"{name} went from {before[name]:g} to {after[name]:g}" for name in before if after[name] < before[name]
        ]
    return failures


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


class _Held(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.answer: Answer | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.answer = fetch(self.port, "POST", "/predict/batch", {"customers": [customer()] * 2}, timeout=60)
        except Exception as exc:  # the test asserts on it
            self.error = exc


def test_sigterm_drains_every_worker_and_exits_0(
    tmp_path: Path, model_dir: Path, baseline_result: TrainResult, request: pytest.FixtureRequest
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    publish(holding(baseline_result, started, release), model_dir, version="held")
    with launch(tmp_path, model_dir=model_dir, workers=WORKERS, shutdown_grace_seconds=10) as service:
        wait_for(lambda: workers_started(service) == WORKERS, SETTLE_SECONDS, f"{WORKERS} workers serving")
        held: list[_Held] = []

        def holding_workers() -> set[Path] | None:
            # One more request at a time, until each worker holds one.
            markers = set(tmp_path.glob("started.*"))
            if len(markers) >= WORKERS:
                return markers
            if len(held) < 4 * WORKERS:
                held.append(_Held(service.port))
                held[-1].start()
            return None

        markers = wait_for(holding_workers, SETTLE_SECONDS, "every worker to hold a request", interval=0.2)
        assert {int(marker.suffix[1:]) for marker in markers} == worker_pids(service)
        signalled = time.monotonic()
        os.kill(service.pid, signal.SIGTERM)
        wait_for(lambda: time.monotonic() - signalled >= 1.0, 2, "the hold to pass")
        assert service.alive(), "exited with requests in flight"
        release.touch()
        for thread in held:
            thread.join(timeout=15)
        assert [t.error for t in held] == [None] * len(held)
        assert [t.answer.status if t.answer else None for t in held] == [200] * len(held)
        code = service.process.wait(timeout=15)
        report(
            request,
            "workers_sigterm",
            {
                "workers": WORKERS,
                "in_flight": len(held),
                "exit_status": code,
                "exited_after_s": round(time.monotonic() - signalled, 2),
            },
        )
        assert code == 0

"""The two-worker checks (test_ops_workers.py) and their sabotage twins share these: each returns what is
wrong. Each also reads each worker's own counter file (testkit.workers), to prove that requests were spread
over the workers, so no check on a sum is passed by one worker alone."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from uvicorn.config import STARTUP_FAILURE

from experiments.model_dir import write_model_dir
from experiments.train import TrainResult
from service.manifest import MANIFEST_FILE, MODEL_FILE, read_manifest
from testkit.client import Answer, fetch
from testkit.customers import customer
from testkit.process import wait_for
from testkit.service import SERVICE_COMMAND, Service, launch, start_service
from testkit.workers import counted_by_worker, metrics_dir, scraped, worker_pids, workers_started
from tests.utils.models import publish
from tests.utils.planted import planted_copy

# A planted copy is started as a script in its root, so it (and every worker it spawns) imports that code.
RUN_SERVICE = 'import runpy\n\nif __name__ == "__main__":\n    runpy.run_module("service", run_name="__main__")\n'
# A worker whose settings fail although the parent's passed: the host changed under a running service.
UNSTARTABLE_WORKER = ("service/workers.py", "        settings = Settings()\n", "        settings = Settings(port=-1)\n")
# The sabotage twins' faults (test_ops_workers_sabotage*.py): file, honest line, faulty line.
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
WORKERS = 2
PREDICTIONS = 40
RELOAD_SECONDS = 0.2
SETTLE_SECONDS = 20.0  # bound on a promoted model reaching the workers, and on a worker's replacement


def predictions_counted(service: Service) -> float:
    return scraped(service.port, "churn_predictions_total")


def both_took_part(counts: dict[str, float]) -> bool:
    return sum(1 for name, count in counts.items() if name != "archive" and count > 0) >= WORKERS


def until_both_answered(
    check: Callable[[], list[str]], counts: Callable[[], dict[str, float]], seconds: float = SETTLE_SECONDS
) -> list[str]:
    """`check`'s failures, round after round until every worker has answered since the first (`counts`: each
    worker's count of the answers checked). The kernel may hand a long run of fresh connections to one worker:
    seen 20 /health in a row, all to one, and once, on a fast host beside two busy test processes, 201 in a row
    (ten rounds in under a second). So the bound is time, not rounds: a worker still silent after `seconds` of
    requests is a failure."""
    deadline = time.monotonic() + seconds
    before = after = counts()
    rounds = 0
    while rounds == 0 or time.monotonic() < deadline:
        rounds += 1
        failures = check()
        if failures:
            return failures
        after = counts()
        if both_took_part({name: after[name] - before.get(name, 0) for name in after}):
            return []
    return [f"after {rounds} rounds in {seconds:g} s not every worker had answered: {after}"]


def count_failures(service: Service, predictions: int) -> list[str]:
    """After `predictions` more answered /predict requests, one scrape must count exactly that many more."""
    before = predictions_counted(service)
    answers = [fetch(service.port, "POST", "/predict", customer()).status for _ in range(predictions)]
    failures = [f"{answers.count(200)} of {predictions} answered 200"] if answers.count(200) != predictions else []
    counted = predictions_counted(service) - before
    if counted != predictions:
        failures.append(f"one scrape counted {counted:g} new predictions, not {predictions}")
    return failures


def promotion_failures(
    service: Service, model_dir: Path, result: TrainResult, bound: float = SETTLE_SECONDS
) -> tuple[list[str], dict[str, float]]:
    """Promote `result`: within `bound`, 20 answers in a row must come from it, and both workers must have served
    it; then the previous model is promoted back. The failures, and the seconds to the first answer from it and to
    the first 20 in a row once both had served it."""
    previous, previous_bytes = read_manifest(model_dir), (model_dir / MODEL_FILE).read_bytes()
    beside = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.name not in {MODEL_FILE, MANIFEST_FILE}}
    promoted = time.monotonic()
    publish(result, model_dir, version="promoted")

    def version() -> str:
        return str(fetch(service.port, "POST", "/predict", customer()).json()["model_version"])

    def by_worker() -> dict[str, float]:
        return counted_by_worker(metrics_dir(service), "churn_predictions_total", model_version="promoted")

    try:
        wait_for(lambda: version() == "promoted", bound, "the promoted version to answer", interval=0.05)
        first = time.monotonic() - promoted

        # Each worker's watcher loads it within its reload interval: then 20 answers in a row are the new version,
        # and both workers have served it (asked again while not: the kernel may hand a run of fresh connections
        # to one worker; a fresh-clone run once saw 21 answers from one).
        def everywhere() -> bool:
            in_a_row = [version() for _ in range(20)] == ["promoted"] * 20
            return in_a_row and both_took_part(by_worker())

        wait_for(everywhere, bound, "20 answers in a row from the promoted version, from both workers",
                 interval=RELOAD_SECONDS)  # fmt: skip
        every = time.monotonic() - promoted
    except AssertionError as exc:
        return [f"{exc}: served so far {by_worker()}"], {}
    finally:
        write_model_dir(model_dir, previous_bytes, previous, beside)  # as before, for the next checks
    return [], {"promotion_to_first_answer_s": round(first, 3), "promotion_to_20_in_a_row_s": round(every, 3)}


def health_failures(service: Service, requests: int = 20, expected: int = 503) -> list[str]:
    """`requests` consecutive /health answers must all be `expected` (503: the model file is gone)."""
    statuses = [fetch(service.port, "GET", "/health").status for _ in range(requests)]
    return [] if statuses == [expected] * requests else [f"/health answered {statuses}"]


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


class _Held(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.answer: Answer | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            # /predict scores on the worker's event loop: a held one stops that worker accepting, so the next
            # connection reaches another worker (a held batch, scored in a thread, left the loop free and the
            # kernel could hand every connection to the same worker).
            self.answer = fetch(self.port, "POST", "/predict", customer(), timeout=60)
        except Exception as exc:  # the test asserts on it
            self.error = exc


def drain_failures(service: Service, started: Path, release: Path) -> tuple[list[str], dict[str, float]]:
    """With each worker holding a request (a held model that marks `started.PID`), SIGTERM the service: it must
    stay up while they are held, answer every one with 200 once released, and exit 0."""
    held: list[_Held] = []

    def holding_workers() -> set[Path] | None:
        # One more request at a time, until each worker holds one.
        markers = set(started.parent.glob(f"{started.name}.*"))
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
    failures = [] if service.alive() else ["exited with requests in flight"]
    release.touch()
    for thread in held:
        thread.join(timeout=15)
    statuses = [t.answer.status if t.answer else repr(t.error) for t in held]
    if statuses != [200] * len(held):
        failures.append(f"the requests in flight got {statuses}")
    code = service.process.wait(timeout=15)
    if code != 0:
        failures.append(f"exit status {code}")
    return failures, {"in_flight": len(held), "exited_after_s": round(time.monotonic() - signalled, 2)}


@contextlib.contextmanager
def serving_workers(
    work: Path, model_dir: Path, *, command: Sequence[str] = SERVICE_COMMAND, reload_interval: float = RELOAD_SECONDS
) -> Iterator[Service]:
    """The service with WORKERS workers on `model_dir`, once every worker has started."""
    with launch(
        work,
        model_dir=model_dir,
        workers=WORKERS,
        command=command,
        reload_interval_seconds=reload_interval,
        shutdown_grace_seconds=10,
    ) as service:
        wait_for(lambda: workers_started(service) == WORKERS, SETTLE_SECONDS, f"{WORKERS} workers serving")
        yield service


def planted_service(
    tmp_path: Path, file: str, honest: str, faulty: str, *, also: tuple[str, str] | None = None
) -> tuple[str, ...]:
    """The command for the service from a copy of the code with `honest` replaced by `faulty` in `file` (and,
    with `also`, a second line of the same file replaced)."""
    root = planted_copy(tmp_path, file, honest, faulty)
    if also is not None:
        target = root / file
        source = target.read_text(encoding="utf-8")
        assert source.count(also[0]) == 1, f"{file} no longer has the line to sabotage: {also[0]!r}"
        target.write_text(source.replace(*also), encoding="utf-8")
    (root / "run_service.py").write_text(RUN_SERVICE, encoding="utf-8")
    return (sys.executable, str(root / "run_service.py"))


def planted(tmp_path: Path, name: str) -> tuple[str, ...]:
    """The command for the service from a copy of the code with the fault `name` (PLANTS) planted."""
    return planted_service(tmp_path, *PLANTS[name])


def start_failures(work: Path, model_dir: Path, command: Sequence[str], bound: float = 90.0) -> list[str]:
    """A worker that cannot start must stop the service, exit status 3 (uvicorn's start-up failure) and the
    reason in the log, not be restarted: judged when the process exits, or when the log shows more refusals
    than there are workers (a restarted one). `bound` is only the deadline for either (starts are slow on busy
    cores)."""
    service = start_service(work, command=command, model_dir=model_dir, workers=WORKERS)
    refusal = "worker refusing to start"

    def outcome() -> str | None:
        if service.process.poll() is not None:
            return "exited"
        return "restarted" if service.log().count(refusal) > WORKERS else None  # each worker refuses once

    try:
        seen = wait_for(outcome, bound, "the service to exit, or to restart the worker", interval=0.2)
    finally:
        code = service.stop()
    if seen == "restarted":
        return [f"restarted the worker that could not start instead of stopping; log ends:\n{service.log_tail()}"]
    failures = [] if code == STARTUP_FAILURE else [f"exit status {code}, not {STARTUP_FAILURE}"]
    if refusal not in service.log():
        failures.append("the log does not say why the worker refused to start")
    return failures

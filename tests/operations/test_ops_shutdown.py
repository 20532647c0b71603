"""SIGTERM on a real `python -m service`: stop accepting, finish the request in flight, exit 0 in the grace period.

The request in flight is a batch scored by a model that holds until the test creates a file, so it is truly
inside the server (in the worker thread that scores batches) when the signal arrives.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from experiments.train import TrainResult
from testkit.client import Answer, fetch
from testkit.customers import customer
from testkit.net import accepts_connections
from testkit.process import wait_for
from testkit.service import Service, launch
from tests.utils.models import publish
from tests.utils.ops_figures import report
from tests.utils.ops_models import holding

GRACE_SECONDS = 4
HELD_AFTER_SIGTERM = 1.0  # the in-flight request goes on this long after the signal before it is released


class _InFlight(threading.Thread):
    """One /predict/batch request on its own connection; keeps its answer or the error it met."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.answer: Answer | None = None
        self.error: BaseException | None = None
        self.finished_at = 0.0

    def run(self) -> None:
        try:
            self.answer = fetch(self.port, "POST", "/predict/batch", {"customers": [customer()] * 3}, timeout=60)
        except Exception as exc:  # the test asserts on it
            self.error = exc
        self.finished_at = time.monotonic()


@pytest.fixture
def held(tmp_path: Path, model_dir: Path, baseline_result: TrainResult) -> tuple[Path, Path]:
    """A served model whose predictions wait for `release`; it touches `started` when a prediction begins."""
    started, release = tmp_path / "started", tmp_path / "release"
    publish(holding(baseline_result, started, release), model_dir, version="held")
    return started, release


def _signal_during_request(service: Service, started: Path) -> tuple[_InFlight, float]:
    in_flight = _InFlight(service.port)
    in_flight.start()
    wait_for(started.exists, 20, "the batch request to reach the model")
    sent = time.monotonic()
    os.kill(service.pid, signal.SIGTERM)
    return in_flight, sent


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(
    tmp_path: Path, model_dir: Path, held: tuple[Path, Path], request: pytest.FixtureRequest
) -> None:
    started, release = held
    with launch(
        tmp_path, model_dir=model_dir, shutdown_grace_seconds=GRACE_SECONDS, request_timeout_seconds=60
    ) as service:
        in_flight, sent = _signal_during_request(service, started)

        wait_for(lambda: not accepts_connections(service.port), 3, "the listening socket to close after SIGTERM")
        refused_after = time.monotonic() - sent
        assert service.process.poll() is None, "exited with a request still in flight"
        assert in_flight.is_alive()

        wait_for(lambda: time.monotonic() - sent >= HELD_AFTER_SIGTERM, 2, "the hold to pass")
        release.touch()
        in_flight.join(timeout=10)
        assert in_flight.error is None, f"the in-flight request failed: {in_flight.error!r}\n{service.log()}"
        assert in_flight.answer is not None
        assert in_flight.answer.status == 200, in_flight.answer.body
        body = in_flight.answer.json()
        assert body["model_version"] == "held"
        assert [p["probability"] for p in body["predictions"]] == [0.75] * 3

        code = service.process.wait(timeout=GRACE_SECONDS + 5)
        exited_after = time.monotonic() - sent
        report(
            request,
            "sigterm",
            {
                "grace_seconds": GRACE_SECONDS,
                "refusing_new_connections_after_s": round(refused_after, 3),
                "in_flight_answered_after_s": round(in_flight.finished_at - sent, 3),
                "exited_after_s": round(exited_after, 3),
                "exit_status": code,
            },
        )
        log = [json.loads(line) for line in service.log().splitlines()]
        assert "Application shutdown complete." in [line["message"] for line in log]
        assert exited_after < GRACE_SECONDS
        # The issue asks for exit status 0 on SIGTERM: Kubernetes and supervisors then record a clean stop.
        assert code == 0, f"exit status {code} after a graceful SIGTERM shutdown (negative: killed by that signal)"


@pytest.mark.slow
def test_a_request_still_running_at_the_end_of_the_grace_period_does_not_keep_the_process_alive(
    tmp_path: Path, model_dir: Path, held: tuple[Path, Path]
) -> None:
    started, release = held
    try:
        with launch(tmp_path, model_dir=model_dir, shutdown_grace_seconds=1, request_timeout_seconds=60) as service:
            in_flight, sent = _signal_during_request(service, started)
            service.process.wait(timeout=1 + 5)
            assert time.monotonic() - sent < 1 + 3
            in_flight.join(timeout=10)
            # Cut off: uvicorn cancels the request and answers a plain 500 (or the connection just closes).
            assert in_flight.answer is None or in_flight.answer.status == 500
            assert "timeout graceful shutdown exceeded" in service.log()
    finally:
        release.touch()

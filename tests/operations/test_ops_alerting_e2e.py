"""End to end, as the on-call person sees it: real processes on 127.0.0.1 — two services (one serving a model,
one started without any), blackbox-exporter with the shipped modules, Prometheus with the shipped scrape jobs and
alert rules, Alertmanager with the shipped routes, inhibition and templates, and a webhook receiver. A fault is
made, and the test waits for the notification to arrive at the receiver; the seconds from fault to notification
print as `[ops figures]`.

What the test copies change, and nothing else (testkit.prometheus, testkit.alertmanager):
- prometheus.yml: targets, and every scrape and evaluation each second (15 s / 1 m shipped);
- alerts.yml: every `for:` of minutes read as seconds (ChurnApiDown 1m -> 1s, ChurnModelNotReady 2m -> 2s,
  ChurnSyntheticPredictFailing 3m -> 3s); expressions, labels and annotations are the shipped ones;
- alertmanager.yml: webhooks aimed at the receiver's port, group_wait and group_interval 1 s, the heartbeat's
  repeat_interval 2 s (1 m shipped);
- Prometheus' `--rules.alert.resend-delay=2s` (1 m by default): an alert first evaluated before Prometheus has
  discovered Alertmanager (about 5 s after its start) is otherwise not sent again for a minute.

One stack serves the module; the scenarios run in this order: the model-less service's synthetic call (its fault
is its start), the deleted and restored model file, the stopped service (last: it ends the serving one), and the
heartbeats heard all along. The sabotage twins of these checks: test_ops_alerting_sabotage.py.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.manifest import MODEL_FILE
from testkit.alertmanager import Alertmanager, Receiver, derived_alertmanager_config, running_alertmanager
from testkit.blackbox import running_blackbox
from testkit.net import HOST
from testkit.process import wait_for
from testkit.prometheus import Prometheus, alerting_config, running_prometheus, shortened_rules
from testkit.service import Service, serving, start_service
from tests.utils.alerting import (
    API_DOWN,
    FLUSH_SECONDS,
    NOT_READY,
    REPEAT_SECONDS,
    SHORTEST,
    SYNTHETIC,
    arrival,
    gaps,
    heartbeat_failures,
    heartbeats,
    leaked,
    page_failures,
    ticks,
    unsuppressed,
)
from tests.utils.ops_figures import report

pytestmark = [pytest.mark.slow, pytest.mark.long(31)]

INTERVAL = "1s"
HEARTBEAT_REPEAT = f"{REPEAT_SECONDS:g}s"
NOTIFY_SECONDS = 30.0  # bound on each wait for a notification (about 3-6 s in practice)
RELOAD_SECONDS = 0.2
# Prometheus re-sends firing alerts this often (1m by default): a first send lost to start-up order is repaired.
RESEND_DELAY = "2s"


@dataclass
class Stack:
    model_dir: Path
    receiver: Receiver
    alertmanager: Alertmanager
    prometheus: Prometheus
    serving: Service  # the model directory's service
    bare: Service  # started without a model
    bare_started: float  # time.monotonic() when its process was started: the synthetic scenario's fault
    started: float  # when the stack was complete

    @staticmethod
    def instance(service: Service) -> str:
        return f"{HOST}:{service.port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, _session_model_dir: Path) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("alerting-e2e")
    model_dir = work / "models" / "churn"
    shutil.copytree(_session_model_dir, model_dir)
    empty = work / "empty" / "churn"
    empty.mkdir(parents=True)
    with contextlib.ExitStack() as processes:
        receiver = processes.enter_context(Receiver())
        config = derived_alertmanager_config(receiver.port, shortest=SHORTEST, heartbeat_repeat=HEARTBEAT_REPEAT)
        alertmanager = processes.enter_context(running_alertmanager(config, work / "alertmanager"))
        blackbox = processes.enter_context(running_blackbox(work))
        # Both services start side by side; the model-less one's start is the synthetic scenario's fault.
        bare_started = time.monotonic()
        started = [
            start_service(work / "logs", model_dir=model_dir, reload_interval_seconds=RELOAD_SECONDS),
            start_service(work / "logs", model_dir=empty, reload_interval_seconds=RELOAD_SECONDS),
        ]
        service = processes.enter_context(serving(started[0]))
        bare = processes.enter_context(serving(started[1], ready="live"))
        rules = shortened_rules(work / "alerts.yml")
        prometheus_config = alerting_config(
            [service.port, bare.port],
            INTERVAL,
            rules=rules,
            blackbox_port=blackbox.port,
            alertmanager_port=alertmanager.port,
        )
        prometheus = processes.enter_context(
            running_prometheus(prometheus_config, work / "prometheus", resend_delay=RESEND_DELAY)
        )
        yield Stack(model_dir, receiver, alertmanager, prometheus, service, bare, bare_started, time.monotonic())


def test_a_service_started_without_a_model_fails_the_synthetic_call_and_pages(
    stack: Stack, request: pytest.FixtureRequest
) -> None:
    instance = stack.instance(stack.bare)
    page = arrival(stack.receiver, SYNTHETIC, instance, "firing", since=stack.bare_started, timeout=NOTIFY_SECONDS)
    assert page_failures(page, instance, reason="no_model") == []
    not_ready = arrival(stack.receiver, NOT_READY, instance, "firing", since=stack.bare_started, timeout=NOTIFY_SECONDS)
    assert page_failures(not_ready, instance, reason="no_model") == []
    report(
        request,
        "synthetic_call_notification",
        {
            "start_without_model_to_synthetic_page_s": round(page.at - stack.bare_started, 2),
            "start_without_model_to_not_ready_page_s": round(not_ready.at - stack.bare_started, 2),
            "stack_startup_s": round(stack.started - stack.bare_started, 2),
            "prometheus_up_to_synthetic_page_s": round(page.at - stack.started, 2),
            "for": "3s (3m shipped)",
        },
    )


def test_a_deleted_model_file_pages_with_its_reason_and_restoring_it_resolves(
    stack: Stack, request: pytest.FixtureRequest
) -> None:
    instance = stack.instance(stack.serving)
    # From a ready start: Prometheus has scraped the service as ready.
    ready = f'churn_model_ready{{instance="{instance}"}}'
    wait_for(lambda: stack.prometheus.value(ready) == 1, NOTIFY_SECONDS, f"{ready} to be 1")
    saved = stack.model_dir.parent / "saved.joblib"
    deleted = time.monotonic()
    (stack.model_dir / MODEL_FILE).rename(saved)
    try:
        page = arrival(stack.receiver, NOT_READY, instance, "firing", since=deleted, timeout=NOTIFY_SECONDS)
    finally:
        restored = time.monotonic()
        saved.rename(stack.model_dir / MODEL_FILE)
    assert page_failures(page, instance, reason="model_file_missing") == []
    assert "(model_file_missing)" in page.alerts[0]["annotations"]["summary"]
    resolved = arrival(stack.receiver, NOT_READY, instance, "resolved", since=restored, timeout=NOTIFY_SECONDS)
    assert resolved.receiver == "on-call"
    report(
        request,
        "model_not_ready_notification",
        {
            "delete_to_firing_page_s": round(page.at - deleted, 2),
            "restore_to_resolved_s": round(resolved.at - restored, 2),
            "for": "2s (2m shipped)",
        },
    )


def test_a_stopped_service_pages_api_down_and_inhibits_its_other_alerts(
    stack: Stack, request: pytest.FixtureRequest
) -> None:
    instance = stack.instance(stack.serving)
    stopped = time.monotonic()
    assert stack.serving.stop() == 0
    page = arrival(stack.receiver, API_DOWN, instance, "firing", since=stopped, timeout=NOTIFY_SECONDS)
    assert page_failures(page, instance) == []
    # The synthetic call fails too; Alertmanager holds that alert, muted by ChurnApiDown ...
    muted = wait_for(
        lambda: unsuppressed(stack.alertmanager, SYNTHETIC, instance) is not None,
        NOTIFY_SECONDS,
        f"Alertmanager to hold {SYNTHETIC} for {instance}",
        interval=0.1,
    )
    muted_at = time.monotonic()
    assert muted
    assert unsuppressed(stack.alertmanager, SYNTHETIC, instance) == []
    # ... and over two more heartbeats (several group_wait + group_interval flushes) nothing else about the
    # instance reaches anyone.
    ticks(stack.receiver, 2, NOTIFY_SECONDS)
    assert leaked(stack.receiver, instance, since=stopped) == []
    report(
        request,
        "api_down_notification",
        {
            "stop_to_api_down_page_s": round(page.at - stopped, 2),
            "stop_to_synthetic_held_and_inhibited_s": round(muted_at - stopped, 2),
            "for": "1s (1m shipped)",
        },
    )


def test_watchdog_heartbeats_arrive_at_every_repeat_interval(stack: Stack, request: pytest.FixtureRequest) -> None:
    beats = heartbeats(stack.receiver.notifications)
    assert heartbeat_failures(beats, REPEAT_SECONDS, FLUSH_SECONDS, least=4) == []
    between = gaps(beats)
    report(
        request,
        "watchdog_heartbeats",
        {
            "heartbeats": len(beats),
            "repeat_interval": f"{HEARTBEAT_REPEAT} (1m shipped)",
            "first_after_stack_up_s": round(beats[0].at - stack.started, 2),
            "gap_min_s": round(min(between), 2),
            "gap_max_s": round(max(between), 2),
        },
    )

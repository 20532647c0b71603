"""Sabotage twins of the end-to-end alerting checks (test_ops_alerting_e2e.py), cheap enough to run every time:
a real Alertmanager from the shipped config, or from a copy broken in one way, with the same test timers and a
webhook receiver, fed the alerts Prometheus sends in each scenario. The shipped config passes each check; each
broken copy makes the check fail that exists to catch it."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.alertmanager import (
    Alertmanager,
    Receiver,
    derived_alertmanager_config,
    running_alertmanager,
)
from testkit.paths import ALERTMANAGER_CONFIG, MONITORING
from testkit.process import TimedOut, wait_for
from testkit.prometheus import load_yaml
from tests.utils.alerting import (
    API_DOWN,
    FLUSH_SECONDS,
    HEARTBEAT,
    NOT_READY,
    REPEAT_SECONDS,
    SHORTEST,
    SYNTHETIC,
    WATCHDOG,
    arrival,
    heartbeat_failures,
    heartbeats,
    leaked,
    page_failures,
    ticks,
    unsuppressed,
)

pytestmark = [pytest.mark.slow, pytest.mark.long(36)]

INSTANCE = "127.0.0.1:8000"
WAIT_SECONDS = 15.0
Change = Callable[[dict[str, Any]], None]


def _pages_to_the_channel(config: dict[str, Any]) -> None:
    (route,) = [r for r in config["route"]["routes"] if r.get("matchers") == ['severity="page"']]
    route["receiver"] = "team-channel"


def _no_inhibition(config: dict[str, Any]) -> None:
    config.pop("inhibit_rules")


def _no_resolved(config: dict[str, Any]) -> None:
    (on_call,) = [r for r in config["receivers"] if r["name"] == "on-call"]
    for webhook in on_call["webhook_configs"]:
        webhook["send_resolved"] = False


def _no_heartbeat_repeat(config: dict[str, Any]) -> None:
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == HEARTBEAT]
    del route["repeat_interval"]  # inherits the root's 4h: one heartbeat, then silence


@contextlib.contextmanager
def _alerting(tmp_path: Path, change: Change | None) -> Iterator[tuple[Receiver, Alertmanager]]:
    """A receiver and an Alertmanager from the shipped config, `change`d first when given."""
    source = ALERTMANAGER_CONFIG
    if change is not None:
        copy = tmp_path / "monitoring"
        shutil.copytree(MONITORING, copy)
        config = load_yaml(copy / ALERTMANAGER_CONFIG.name)
        change(config)
        source = copy / ALERTMANAGER_CONFIG.name
        source.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with Receiver() as receiver:
        config = derived_alertmanager_config(
            receiver.port, shortest=SHORTEST, heartbeat_repeat=f"{REPEAT_SECONDS:g}s", source=source
        )
        with running_alertmanager(config, tmp_path / "alertmanager") as alertmanager:
            yield receiver, alertmanager


def _alert(name: str, severity: str, *, ends: datetime | None = None, **annotations: str) -> dict[str, Any]:
    """An alert as Prometheus sends it for `name` on INSTANCE (Watchdog: no instance)."""
    labels = {"alertname": name, "severity": severity}
    if name != WATCHDOG:
        labels["instance"] = INSTANCE
    alert: dict[str, Any] = {"labels": labels, "annotations": {"runbook": "do this", **annotations}}
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


API_DOWN_ALERT = _alert(API_DOWN, "page", summary=f"churn API {INSTANCE} is not answering scrapes")
SYNTHETIC_ALERT = _alert(SYNTHETIC, "page", summary=f"the synthetic /predict call to {INSTANCE} failed", reason="-")
WATCHDOG_ALERT = _alert(WATCHDOG, "heartbeat", summary="the alerting path works")


def _not_ready(*, ends: datetime | None = None, reason: str | None = None) -> dict[str, Any]:
    summary = f"churn API {INSTANCE} is not ready"
    if reason is None:
        return _alert(NOT_READY, "page", ends=ends, summary=summary)
    return _alert(NOT_READY, "page", ends=ends, summary=summary, reason=reason)


@pytest.mark.parametrize("sabotage", ["shipped", "pages-to-the-channel", "no-reason"])
def test_the_page_check_catches_a_misrouted_page_and_a_page_without_its_reason(tmp_path: Path, sabotage: str) -> None:
    change = _pages_to_the_channel if sabotage == "pages-to-the-channel" else None
    alert = _not_ready() if sabotage == "no-reason" else _not_ready(reason="model_file_missing")
    with _alerting(tmp_path, change) as (receiver, alertmanager):
        alertmanager.post([alert])
        page = arrival(receiver, NOT_READY, INSTANCE, "firing", since=0, timeout=WAIT_SECONDS)
    failures = page_failures(page, INSTANCE, reason="model_file_missing")
    if sabotage == "shipped":
        assert failures == []
    elif sabotage == "pages-to-the-channel":
        assert failures == [f"{NOT_READY} went to team-channel, not on-call"]
    else:
        assert failures == ["the reason is None, not 'model_file_missing'"]


@pytest.mark.parametrize("sabotage", ["shipped", "no-inhibition"])
def test_the_inhibition_check_catches_a_missing_inhibition(tmp_path: Path, sabotage: str) -> None:
    with _alerting(tmp_path, _no_inhibition if sabotage == "no-inhibition" else None) as (receiver, alertmanager):
        alertmanager.post([WATCHDOG_ALERT, API_DOWN_ALERT, SYNTHETIC_ALERT])
        page = arrival(receiver, API_DOWN, INSTANCE, "firing", since=0, timeout=WAIT_SECONDS)
        assert page_failures(page, INSTANCE) == []
        if sabotage == "shipped":
            ticks(receiver, 2, WAIT_SECONDS)  # as the end-to-end test judges it
            assert unsuppressed(alertmanager, SYNTHETIC, INSTANCE) == []
            assert leaked(receiver, INSTANCE, since=0) == []
        else:
            arrival(receiver, SYNTHETIC, INSTANCE, "firing", since=0, timeout=WAIT_SECONDS)
            assert unsuppressed(alertmanager, SYNTHETIC, INSTANCE) == [f"{SYNTHETIC} is active"]
            assert leaked(receiver, INSTANCE, since=0) == [f"on-call:firing:{SYNTHETIC}"]


@pytest.mark.parametrize("sabotage", ["shipped", "no-resolved"])
def test_the_resolved_check_catches_a_receiver_that_never_hears_the_end(tmp_path: Path, sabotage: str) -> None:
    with _alerting(tmp_path, _no_resolved if sabotage == "no-resolved" else None) as (receiver, alertmanager):
        alertmanager.post([_not_ready(reason="model_file_missing")])
        firing = arrival(receiver, NOT_READY, INSTANCE, "firing", since=0, timeout=WAIT_SECONDS)
        alertmanager.post([_not_ready(reason="model_file_missing", ends=datetime.now(UTC))])
        # Alertmanager took the end: the alert is no longer active there.
        wait_for(lambda: not alertmanager.alerts(alertname=NOT_READY), WAIT_SECONDS, "the alert to end")
        if sabotage == "shipped":
            arrival(receiver, NOT_READY, INSTANCE, "resolved", since=firing.at, timeout=WAIT_SECONDS)
        else:
            with pytest.raises(TimedOut):  # the end-to-end test's wait for the resolved notification fails
                arrival(receiver, NOT_READY, INSTANCE, "resolved", since=firing.at, timeout=4 * FLUSH_SECONDS)


@pytest.mark.parametrize("sabotage", ["shipped", "no-heartbeat-repeat"])
def test_the_heartbeat_check_catches_heartbeats_that_do_not_repeat(tmp_path: Path, sabotage: str) -> None:
    least = 3
    change = _no_heartbeat_repeat if sabotage == "no-heartbeat-repeat" else None
    with _alerting(tmp_path, change) as (receiver, alertmanager):
        alertmanager.post([WATCHDOG_ALERT])
        bound = (least - 1) * (REPEAT_SECONDS + FLUSH_SECONDS) + 2.0
        with contextlib.suppress(TimedOut):
            receiver.until(lambda ns: len(heartbeats(ns)) >= least, bound, f"{least} heartbeats")
        failures = heartbeat_failures(heartbeats(receiver.notifications), REPEAT_SECONDS, FLUSH_SECONDS, least)
    if sabotage == "shipped":
        assert failures == []
    else:
        assert failures == [f"1 heartbeats, not at least {least}"]

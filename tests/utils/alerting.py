"""The checks the on-call person's view is held to, shared by the end-to-end test (a real stack) and its sabotage
twins (an Alertmanager from a broken config, fed the same alerts): each returns what is wrong, so a twin can
assert that the check complains about the fault it exists to catch."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from testkit.alertmanager import Alertmanager, Notification, Receiver

API_DOWN = "ChurnApiDown"
NOT_READY = "ChurnModelNotReady"
SYNTHETIC = "ChurnSyntheticPredictFailing"
WATCHDOG = "Watchdog"
ON_CALL = "on-call"
HEARTBEAT = "heartbeat"
# The test copies' Alertmanager timers (the shipped config's minutes as seconds), shared by the end-to-end test
# and its sabotage twins so both run the same clock.
SHORTEST = {"group_wait": "1s", "group_interval": "1s"}
FLUSH_SECONDS = 1.0  # the group_interval above
REPEAT_SECONDS = 2.0  # the heartbeat route's repeat interval


def arrival(
    receiver: Receiver, alertname: str, instance: str, status: str, *, since: float, timeout: float
) -> Notification:
    """The first notification, at whichever receiver, about `alertname` on `instance` with `status`, after `since`."""

    def match(n: Notification) -> bool:
        return (n.alertname, n.instance, n.status) == (alertname, instance, status) and n.at > since

    return receiver.wait(match, timeout, f"a {status} {alertname} notification for {instance}")


def page_failures(notification: Notification, instance: str, reason: str | None = None) -> list[str]:
    """What keeps `notification` from being the page the on-call person needs: sent to the on-call receiver, each
    alert naming the instance, carrying summary and runbook, and (when given) the not-ready reason."""
    failures = []
    if notification.receiver != ON_CALL:
        failures.append(f"{notification.alertname} went to {notification.receiver}, not {ON_CALL}")
    for alert in notification.alerts:
        labels, annotations = alert["labels"], alert["annotations"]
        if labels.get("instance") != instance:
            failures.append(f"the alert names instance {labels.get('instance')}, not {instance}")
        if instance not in annotations.get("summary", "") or not annotations.get("runbook"):
            failures.append(f"summary or runbook missing: {annotations}")
        if reason is not None and annotations.get("reason") != reason:
            failures.append(f"the reason is {annotations.get('reason')!r}, not {reason!r}")
    return failures


def leaked(receiver: Receiver, instance: str, since: float) -> list[str]:
    """Notifications after `since` about `instance` for anything but ChurnApiDown: with the API down, the
    inhibition must have muted them all."""
    return [
        f"{n.receiver}:{n.status}:{n.alertname}"
        for n in receiver.matching(lambda n: n.at > since and n.instance == instance and n.alertname != API_DOWN)
    ]


def unsuppressed(alertmanager: Alertmanager, alertname: str, instance: str) -> list[str] | None:
    """None while Alertmanager holds no `alertname` for `instance`; else each such alert not inhibited by an
    active ChurnApiDown (empty: all of them are)."""
    alerts = alertmanager.alerts(alertname=alertname, instance=instance)
    if not alerts:
        return None
    return [f"{a['labels']['alertname']} is {a['status']['state']}" for a in alerts if not a["status"]["inhibitedBy"]]


def ticks(receiver: Receiver, count: int, timeout: float) -> None:
    """Wait for `count` more heartbeats: the receiver's own clock, so "nothing else arrived" is judged over a
    known number of Alertmanager flushes rather than a sleep."""
    seen = len(heartbeats(receiver.notifications))
    receiver.until(lambda ns: len(heartbeats(ns)) >= seen + count, timeout, f"{count} more heartbeats")


def heartbeats(notifications: Sequence[Notification]) -> list[Notification]:
    return [n for n in notifications if n.alertname == WATCHDOG and n.status == "firing"]


def heartbeat_failures(beats: Sequence[Notification], repeat: float, flush: float, least: int) -> list[str]:
    """At least `least` heartbeats, all at the heartbeat receiver, each `repeat` seconds after the previous one
    at the soonest and one Alertmanager flush (`flush`, the group interval) plus a second of slack at the latest."""
    failures = [f"a heartbeat went to {b.receiver}" for b in beats if b.receiver != HEARTBEAT]
    if len(beats) < least:
        failures.append(f"{len(beats)} heartbeats, not at least {least}")
    failures += [f"a gap of {gap:.2f} s" for gap in gaps(beats) if not repeat - 0.25 <= gap <= repeat + flush + 1.0]
    return failures


def gaps(beats: Sequence[Notification]) -> list[float]:
    return [later.at - earlier.at for earlier, later in itertools.pairwise(beats)]

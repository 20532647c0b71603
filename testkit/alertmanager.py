"""Alertmanager for the tests: the shipped monitoring/alertmanager.yml with its webhooks aimed at a local receiver
and its timers shortened, a real `prometheus-alertmanager` on a free loopback port (no cluster listener), and
the receiver: a threaded http.server that keeps every notification and lets a test await one."""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from testkit.client import fetch, probe
from testkit.net import HOST, free_port
from testkit.paths import ALERTMANAGER_CONFIG, ROOT
from testkit.process import Managed, TimedOut, clean_env, running, start
from testkit.prometheus import load_yaml, tool

STARTUP_SECONDS = 30.0
INSTALL_HINT = "Debian's `prometheus-alertmanager` package provides it (.ci/run installs it on CI)"
T = TypeVar("T")
TIMERS = ("group_wait", "group_interval", "repeat_interval")


@dataclass(frozen=True)
class Notification:
    """One webhook call from Alertmanager, as it arrived."""

    receiver: str  # the last part of the webhook's path: on-call, team-channel, heartbeat
    status: str  # firing or resolved
    group_labels: dict[str, str]
    alerts: list[dict[str, Any]]
    at: float  # time.monotonic() on arrival

    @property
    def alertname(self) -> str:
        return self.group_labels.get("alertname", "")

    @property
    def instance(self) -> str:
        return self.group_labels.get("instance", "")


class Receiver:
    """A webhook receiver on a free loopback port, for as long as the `with` block; every notification is kept in
    order of arrival, and `wait` returns the first that matches, as soon as it arrives."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = self.path.rstrip("/").rsplit("/", 1)[-1]
                receiver._keep(
                    Notification(name, body["status"], body["groupLabels"], body["alerts"], time.monotonic())
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the notifications themselves are the record

        self._server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def _keep(self, notification: Notification) -> None:
        with self._arrived:
            self.notifications.append(notification)
            self._arrived.notify_all()

    def matching(self, match: Callable[[Notification], bool]) -> list[Notification]:
        with self._arrived:
            return [n for n in self.notifications if match(n)]

    def until(self, condition: Callable[[list[Notification]], T | None], timeout: float, what: str) -> T:
        """What `condition` makes of the notifications so far, once it is truthy (re-judged on every arrival);
        TimedOut, listing what did arrive, after `timeout`."""
        with self._arrived:
            found = self._arrived.wait_for(lambda: condition(self.notifications), timeout)
        if not found:
            raise TimedOut(f"timed out after {timeout:g} s waiting for {what}; received: {self.summary()}")
        return found

    def wait(self, match: Callable[[Notification], bool], timeout: float, what: str) -> Notification:
        """The first notification (already kept, or arriving within `timeout`) that `match`es."""
        return self.until(lambda notifications: next((n for n in notifications if match(n)), None), timeout, what)

    def summary(self) -> list[str]:
        with self._arrived:
            return [f"{n.receiver}:{n.status}:{n.alertname}@{n.instance or '-'}" for n in self.notifications]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def derived_alertmanager_config(
    receiver_port: int, *, shortest: Mapping[str, str], heartbeat_repeat: str, source: Path = ALERTMANAGER_CONFIG
) -> dict[str, Any]:
    """`source` (the shipped config) for a test: every webhook aimed at the receiver on `receiver_port` (same
    path), the template by its absolute path, `group_wait` and `group_interval` cut to `shortest`'s values where
    the file sets them longer, and the heartbeat route's own `repeat_interval`, where the file sets one, cut to
    `heartbeat_repeat`. Routes, matchers, grouping, inhibition and receivers stay as shipped."""
    config: dict[str, Any] = load_yaml(source)
    config["templates"] = [str((source.parent / name).resolve()) for name in config.get("templates", [])]
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = urllib.parse.urlsplit(webhook["url"])._replace(netloc=f"{HOST}:{receiver_port}").geturl()
    for route in [config["route"], *config["route"].get("routes", [])]:
        for key, value in shortest.items():
            assert key in TIMERS[:2], f"only group_wait and group_interval are shortened this way, not {key}"
            if key in route and _seconds(route[key]) > _seconds(value):
                route[key] = value
        if route["receiver"] == "heartbeat" and "repeat_interval" in route:
            route["repeat_interval"] = heartbeat_repeat
    return config


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    raise ValueError(f"a duration this harness cannot read: {duration}")


@dataclass
class Alertmanager(Managed):
    port: int

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds with these labels, each with its `status` (state, inhibitedBy)."""
        query = urllib.parse.urlencode({"filter": [f'{k}="{v}"' for k, v in labels.items()]}, doseq=True)
        answer = probe(self.port, f"/api/v2/alerts?{query}")
        assert answer is not None, f"Alertmanager stopped answering on port {self.port}"
        assert answer.status == 200, answer.body
        alerts: list[dict[str, Any]] = answer.json()
        return alerts

    def post(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Send alerts as Prometheus does (`labels`, `annotations`, optional `startsAt`/`endsAt`)."""
        answer = fetch(self.port, "POST", "/api/v2/alerts", list(alerts))
        assert answer.status == 200, answer.body


@contextlib.contextmanager
def running_alertmanager(config: Mapping[str, Any], work: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager on a free loopback port, its data in `work`, without the cluster listener (it would
    bind every interface); ready or the test fails; always stopped."""
    work.mkdir(parents=True, exist_ok=True)
    config_file = work / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    checked = subprocess.run(
        [tool("amtool", INSTALL_HINT), "check-config", str(config_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    command = [
        tool("prometheus-alertmanager", INSTALL_HINT),
        f"--config.file={config_file}",
        f"--storage.path={work / 'data'}",
        f"--web.listen-address={HOST}:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    managed = start("alertmanager", command, log_path=work / "alertmanager.log", env=clean_env(), cwd=work)
    alertmanager = Alertmanager(managed.name, managed.process, managed.log_path, port)

    def ready() -> bool:
        answer = probe(port, "/-/ready")
        return answer is not None and answer.status == 200

    with running(alertmanager, ready, STARTUP_SECONDS, f"200 on /-/ready at {HOST}:{port}"):
        yield alertmanager

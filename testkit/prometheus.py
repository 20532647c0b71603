"""Prometheus for the tests: promtool (or a failure saying how to install it), and a real Prometheus on a free
loopback port, configured from monitoring/prometheus.yml with the target and intervals changed."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.client import probe
from testkit.net import HOST, free_port
from testkit.paths import ALERT_RULES, PROMETHEUS_CONFIG, ROOT
from testkit.process import Managed, clean_env, running, start

STARTUP_SECONDS = 30.0
INSTALL_HINT = (
    "Debian's `prometheus` package provides it: apt-get update && apt-get install -y --no-install-recommends "
    "prometheus (.ci/run installs it on CI)"
)


def tool(name: str, hint: str = INSTALL_HINT) -> str:
    """The path of a monitoring binary (`promtool`, `prometheus`, ...); the test fails (never skips) when it is
    missing, with `hint` saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed. {hint}", pytrace=False)
    return path


def promtool(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def derived_config(target_port: int, interval: str) -> dict[str, Any]:
    """monitoring/prometheus.yml for a test: the same job and rule file, the target on `target_port`, scrape
    and evaluation every `interval`, and no Alertmanager (alerts are read from Prometheus' own API)."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_CONFIG)
    config["global"] = {**config["global"], "scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str((PROMETHEUS_CONFIG.parent / name).resolve()) for name in config["rule_files"]]
    config.pop("alerting", None)
    job = config["scrape_configs"][0]
    config["scrape_configs"] = [job]  # the synthetic probe needs a blackbox-exporter; these tests start none
    job["static_configs"] = [{"targets": [f"{HOST}:{target_port}"]}]
    return config


def alerting_config(
    targets: Sequence[int], interval: str, *, rules: Path, blackbox_port: int, alertmanager_port: int
) -> dict[str, Any]:
    """monitoring/prometheus.yml whole, for an end-to-end test: both jobs (the service and the synthetic call
    through blackbox-exporter) aimed at the services on `targets`, every scrape and evaluation each `interval`,
    the rule file `rules` (a copy of the shipped rules, see `shortened_rules`), alerts sent to the Alertmanager
    on `alertmanager_port` and the probes to the blackbox-exporter on `blackbox_port`. Nothing else changes."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_CONFIG)
    config["global"] = {**config["global"], "scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(rules)]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [{"targets": [f"{HOST}:{alertmanager_port}"]}]
    instances = [f"{HOST}:{port}" for port in targets]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"churnguard", "churnguard-synthetic"}, f"a job this harness does not know: {set(jobs)}"
    for job in jobs.values():
        job["static_configs"] = [{"targets": instances}]
    synthetic = jobs["churnguard-synthetic"]
    synthetic["scrape_interval"] = interval
    (exporter,) = [step for step in synthetic["relabel_configs"] if step["target_label"] == "__address__"]
    exporter["replacement"] = f"{HOST}:{blackbox_port}"
    return config


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match is not None, f"a duration this harness cannot read: {duration}"
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]


def shortened_rules(target: Path) -> Path:
    """monitoring/alerts.yml with every `for:` of minutes read as seconds (2m -> 2s), written to `target`; the
    expressions, labels and annotations are the shipped ones, and the order of the `for:`s is kept (the synthetic
    alert's stays longer than ChurnApiDown's, so ChurnApiDown still arrives first)."""
    rules: dict[str, Any] = load_yaml(ALERT_RULES)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                seconds = _seconds(rule["for"])
                assert seconds % 60 == 0, f"{rule['alert']}: a `for:` of whole minutes is expected, not {rule['for']}"
                rule["for"] = f"{seconds // 60}s"
    target.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    return target


@dataclass
class Prometheus(Managed):
    port: int

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        answer = probe(self.port, f"/api/v1/{path}{query}")
        assert answer is not None, f"Prometheus stopped answering on port {self.port}"
        assert answer.status == 200, answer.body
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """Active alerts (pending or firing) called `name`."""
        return [alert for alert in self.api("alerts")["alerts"] if alert["labels"]["alertname"] == name]

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it returns nothing."""
        result = self.api("query", query=expr)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


@contextlib.contextmanager
def running_prometheus(config: dict[str, Any], work: Path, *, resend_delay: str | None = None) -> Iterator[Prometheus]:
    """A real Prometheus on a free loopback port, its data in `work`; ready or the test fails; always stopped.
    `resend_delay` (default 1m) is how soon a firing alert is sent to Alertmanager again: an alert first sent
    before Alertmanager was discovered is otherwise lost for that long."""
    work.mkdir(parents=True, exist_ok=True)
    config_file = work / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = promtool("check", "config", config_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    command = [
        tool("prometheus"),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address={HOST}:{port}",
        "--log.level=warn",
        *([f"--rules.alert.resend-delay={resend_delay}"] if resend_delay else []),
    ]
    managed = start("prometheus", command, log_path=work / "prometheus.log", env=clean_env(), cwd=work)
    prometheus = Prometheus(managed.name, managed.process, managed.log_path, port)

    def ready() -> bool:
        answer = probe(port, "/-/ready")
        return answer is not None and answer.status == 200

    with running(prometheus, ready, STARTUP_SECONDS, f"200 on /-/ready at {HOST}:{port}"):
        yield prometheus

"""End to end, as the on-call would see it: a real Prometheus scraping a real `python -m service`, evaluating
monitoring/alerts.yml. The model file is deleted, a bad model promoted, the process stopped; each time the
right alert goes pending in Prometheus' own API, and clears when the fault is repaired.

The Prometheus config is monitoring/prometheus.yml with three changes (testkit.prometheus.derived_config):
the target is the test's port, scrape and evaluation run every second instead of every 15 s, and no
Alertmanager is configured. Alerts have `for:` durations of minutes, so the tests wait for `pending` (the
rule matched), not `firing`; promtool's unit tests cover the durations.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from experiments.model_dir import write_model_dir
from experiments.train import TrainResult
from service.manifest import MANIFEST_FILE, MODEL_FILE, Manifest, read_manifest
from testkit.client import fetch
from testkit.customers import customer
from testkit.net import HOST
from testkit.paths import ALERT_RULES as RULES_FILE
from testkit.process import wait_for
from testkit.prometheus import Prometheus, derived_config, load_yaml, running_prometheus
from testkit.service import Service, launch
from tests.utils.models import publish_bytes
from tests.utils.ops_figures import report

pytestmark = [pytest.mark.slow, pytest.mark.long(23)]

INTERVAL = "1s"
ALERT_SECONDS = 60  # bound on every wait for Prometheus to notice (about 2 s in practice)
NOT_READY = "ChurnModelNotReady"
RELOAD_SECONDS = 0.2


@dataclass
class Stack:
    model_dir: Path
    logs: Path
    service: Service
    prometheus: Prometheus
    model_bytes: bytes
    manifest: Manifest
    processes: contextlib.ExitStack  # stops Prometheus and every service this module started, at its end
    beside: dict[str, bytes]  # the files the manifest hashes beside the model (encoder plan, reference)

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.prometheus.alerts(name) if a["labels"]["instance"] == f"{HOST}:{self.service.port}"]

    def wait_alert(self, name: str, since: float) -> tuple[dict[str, Any], float]:
        """Wait for `name` to be active; the alert and the seconds since `since`."""
        (alert,) = wait_for(lambda: self.alerts(name), ALERT_SECONDS, f"{name} to go pending", interval=0.1)
        return alert, time.monotonic() - since

    def wait_clear(self, name: str, since: float) -> float:
        wait_for(lambda: not self.alerts(name), ALERT_SECONDS, f"{name} to clear", interval=0.1)
        return time.monotonic() - since

    def reason(self) -> str | None:
        """The reason code Prometheus last scraped from churn_model_not_ready_reason (None when ready)."""
        result = self.prometheus.api("query", query="churn_model_not_ready_reason == 1")["result"]
        assert len(result) <= 1, result
        return str(result[0]["metric"]["reason"]) if result else None

    def evaluated_after(self, name: str, moment: float) -> bool:
        """Whether Prometheus has evaluated rule `name` since `moment` (time.time())."""
        for group in self.prometheus.api("rules")["groups"]:
            for rule in group["rules"]:
                if rule["name"] == name:
                    # RFC 3339 with nanoseconds; fromisoformat takes microseconds.
                    stamp = re.sub(r"(\.\d{6})\d+", r"\1", rule["lastEvaluation"]).replace("Z", "+00:00")
                    return datetime.fromisoformat(stamp).timestamp() > moment
        raise AssertionError(f"no rule {name}")

    def probe_until(self, condition: Callable[[], bool], what: str) -> None:
        """Probe /health/ready (expecting 503) every 0.2 s, as a kubelet would, until `condition()` holds."""

        def probe_then_check() -> bool:
            assert fetch(self.service.port, "GET", "/health/ready").status == 503
            return condition()

        wait_for(probe_then_check, ALERT_SECONDS, what, interval=0.2)

    def scraped_ready(self) -> float | None:
        return self.prometheus.value("churn_model_ready")

    def restore(self) -> None:
        """Promote the original model again (atomically, as `experiments promote` writes it)."""
        write_model_dir(self.model_dir, self.model_bytes, self.manifest, self.beside)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, _session_model_dir: Path) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("prometheus-e2e")
    model_dir = work / "models" / "churn"
    shutil.copytree(_session_model_dir, model_dir)
    manifest = read_manifest(model_dir)
    model_bytes = (model_dir / MODEL_FILE).read_bytes()
    beside = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.name not in {MODEL_FILE, MANIFEST_FILE}}
    with contextlib.ExitStack() as processes:
        service = processes.enter_context(
            launch(work / "logs", model_dir=model_dir, reload_interval_seconds=RELOAD_SECONDS)
        )
        config = derived_config(service.port, INTERVAL)
        prometheus = processes.enter_context(running_prometheus(config, work / "prometheus"))
        yield Stack(model_dir, work / "logs", service, prometheus, model_bytes, manifest, processes, beside)


@pytest.fixture
def healthy(stack: Stack) -> Stack:
    """Every test starts from a ready service that Prometheus has scraped as ready, with none of the alerts these
    tests raise active (nor the 5xx alert: readiness 503s must not look like server errors)."""
    wait_for(lambda: stack.scraped_ready() == 1, ALERT_SECONDS, "Prometheus to scrape churn_model_ready 1")
    names = (NOT_READY, "ChurnApiDown", "ChurnHigh5xxRate")
    wait_for(lambda: not any(stack.alerts(name) for name in names), ALERT_SECONDS, f"none of {names} active")
    return stack


def test_prometheus_loads_every_rule_and_scrapes_the_service(healthy: Stack) -> None:
    expected = {rule["alert"] for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]}

    def evaluated() -> dict[str, str] | None:
        rules = {r["name"]: r["health"] for g in healthy.prometheus.api("rules")["groups"] for r in g["rules"]}
        return rules if set(rules.values()) == {"ok"} else None

    assert set(wait_for(evaluated, ALERT_SECONDS, "every rule to be evaluated")) == expected
    (target,) = healthy.prometheus.api("targets")["activeTargets"]
    assert (target["labels"]["job"], target["health"]) == ("churnguard", "up")
    assert healthy.prometheus.value('up{job="churnguard"}') == 1


def test_a_deleted_model_file_raises_model_not_ready_and_restoring_it_clears_it(
    healthy: Stack, request: pytest.FixtureRequest
) -> None:
    stack = healthy
    saved = stack.model_dir.parent / "saved.joblib"
    deleted = time.monotonic()
    (stack.model_dir / MODEL_FILE).rename(saved)
    try:
        alert, to_pending = stack.wait_alert(NOT_READY, deleted)
        assert alert["state"] == "pending"
        assert alert["labels"]["severity"] == "page"
        assert "(model_file_missing)" in alert["annotations"]["summary"]
        assert stack.reason() == "model_file_missing"
        assert stack.prometheus.value("churn_model_artifact_present") == 0
        # The on-call's first step from the runbook: /health says why, and predictions still flow.
        health = fetch(stack.service.port, "GET", "/health")
        assert health.status == 503
        assert "was deleted" in health.json()["reason"]
        assert fetch(stack.service.port, "POST", "/predict", customer()).status == 200
        # Readiness answering 503 is not a server error: with probes failing as a kubelet's would, once
        # Prometheus sees their 503 rate and has evaluated the rules again, the 5xx alert must still be quiet.
        rate = 'sum(rate(churn_http_requests_total{route="/health/ready", status="503"}[1m]))'
        stack.probe_until(lambda: (stack.prometheus.value(rate) or 0) > 0, "the probes' 503 rate to be scraped")
        seen = time.time()
        stack.probe_until(lambda: stack.evaluated_after("ChurnHigh5xxRate", seen), "the rules to be evaluated")
        assert not stack.alerts("ChurnHigh5xxRate")
    finally:
        restored = time.monotonic()
        saved.rename(stack.model_dir / MODEL_FILE)
    to_clear = stack.wait_clear(NOT_READY, restored)
    assert stack.scraped_ready() == 1
    report(
        request,
        "deleted_model_alert",
        {
            "scrape_and_evaluation_interval": INTERVAL,
            "deletion_to_pending_s": round(to_pending, 2),
            "restore_to_cleared_s": round(to_clear, 2),
        },
    )


def _hash_mismatch(stack: Stack, result: TrainResult) -> None:
    """A new model file whose manifest vouches for other bytes: corrupt in transit, or a mixed-up promotion."""
    publish_bytes(result, stack.model_dir, stack.model_bytes + b"\0", version="2", model_sha256="ef" * 32)


def _garbage(stack: Stack, result: TrainResult) -> None:
    """Bytes that are not a model at all, with a manifest that honestly hashes them."""
    publish_bytes(result, stack.model_dir, b"this is not a pickle", version="2")


def _other_profile(stack: Stack, result: TrainResult) -> None:
    """The served model's own bytes under a manifest for another data profile: only the manifest is wrong."""
    publish_bytes(result, stack.model_dir, stack.model_bytes, version="2", profile_sha256="cd" * 32)


REFUSED = {
    "hash-mismatch": (_hash_mismatch, "model_file_changed", "re-promote the model"),
    "garbage": (_garbage, "model_file_changed", "cannot be loaded"),
    "other-profile": (_other_profile, "reload_failed", "retrain against the current profile"),
}


@pytest.mark.parametrize("bad", list(REFUSED))
def test_a_refused_new_model_keeps_the_old_one_serving_and_raises_model_not_ready(
    healthy: Stack, baseline_result: TrainResult, bad: str, request: pytest.FixtureRequest
) -> None:
    stack = healthy
    promote, code, words = REFUSED[bad]
    promoted = time.monotonic()
    promote(stack, baseline_result)
    try:
        alert, to_pending = stack.wait_alert(NOT_READY, promoted)
        assert alert["state"] == "pending"
        assert f"({code})" in alert["annotations"]["summary"]
        assert stack.reason() == code
        assert stack.scraped_ready() == 0

        ready = fetch(stack.service.port, "GET", "/health/ready")
        assert ready.status == 503
        assert ready.json()["model_version"] == stack.manifest.version
        assert words in ready.json()["reason"]
        answer = fetch(stack.service.port, "POST", "/predict", customer())
        assert answer.status == 200
        assert answer.json()["model_version"] == stack.manifest.version  # the old model keeps answering
    finally:
        restored = time.monotonic()
        stack.restore()
    to_clear = stack.wait_clear(NOT_READY, restored)
    assert fetch(stack.service.port, "GET", "/health/ready").status == 200
    report(
        request, f"refused_model_alert[{bad}]", {"to_pending_s": round(to_pending, 2), "to_clear_s": round(to_clear, 2)}
    )


def test_a_stopped_service_raises_api_down_and_a_restarted_one_clears_it(
    healthy: Stack, request: pytest.FixtureRequest
) -> None:
    stack = healthy
    stopped = time.monotonic()
    process: subprocess.Popen[bytes] = stack.service.process
    process.terminate()
    process.wait(timeout=10)
    try:
        alert, to_pending = stack.wait_alert("ChurnApiDown", stopped)
        assert alert["state"] == "pending"
        assert stack.prometheus.value('up{job="churnguard"}') == 0
    finally:
        # Back on the same port, so the rest of the module (and Prometheus' target) still finds it.
        restarted = time.monotonic()
        port = stack.service.port
        stack.service = stack.processes.enter_context(
            launch(stack.logs, port=port, model_dir=stack.model_dir, reload_interval_seconds=RELOAD_SECONDS)
        )
    to_clear = stack.wait_clear("ChurnApiDown", restarted)
    report(
        request, "api_down_alert", {"stop_to_pending_s": round(to_pending, 2), "restart_to_clear_s": round(to_clear, 2)}
    )

"""monitoring/alertmanager.yml, its template and monitoring/blackbox.yml: amtool accepts them, every alert's
severity reaches the receiver it should (amtool config routes test), broken copies fail those checks, the
template puts summary, not-ready reason and runbook in every message, and the synthetic probe sends the real
first customer of the data. A missing amtool fails with an install hint, never a skip."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from testkit.customers import VALID_CUSTOMER
from testkit.paths import ALERT_RULES as RULES
from testkit.paths import MONITORING, ROOT
from testkit.prometheus import load_yaml

ALERTMANAGER = MONITORING / "alertmanager.yml"
BLACKBOX = MONITORING / "blackbox.yml"
RECEIVER_FOR = {"page": "on-call", "ticket": "team-channel", "heartbeat": "heartbeat"}
INSTALL_HINT = "Debian's `prometheus-alertmanager` package provides it (.ci/run installs it on CI)"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed. {INSTALL_HINT}", pytrace=False)
    return path


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("amtool"), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def route_failures(config: Path) -> list[str]:
    """Every alert of monitoring/alerts.yml, on some instance, must reach the receiver of its severity."""
    failures = []
    for rule in _alerts():
        severity = rule["labels"]["severity"]
        labels = [f"alertname={rule['alert']}", f"severity={severity}", "instance=127.0.0.1:8000"]
        result = amtool("config", "routes", "test", f"--config.file={config}", *labels)
        if result.returncode != 0 or result.stdout.split() != [RECEIVER_FOR[severity]]:
            failures.append(f"{rule['alert']} ({severity}) went to {result.stdout.split()}")
    return failures


def test_amtool_accepts_the_config_and_its_template() -> None:
    result = amtool("check-config", ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout
    assert "SUCCESS" in result.stdout


def test_every_severity_reaches_its_receiver() -> None:
    assert route_failures(ALERTMANAGER) == []


def test_grouping_inhibition_and_heartbeat_are_as_the_issue_asks() -> None:
    config = load_yaml(ALERTMANAGER)
    assert config["route"]["group_by"] == ["alertname", "instance"]
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['alertname="ChurnApiDown"']
    assert inhibit["equal"] == ["instance"]
    (heartbeat,) = [r for r in config["route"]["routes"] if r["receiver"] == "heartbeat"]
    assert heartbeat["repeat_interval"] == "1m"


def _set_route(severity: str, receiver: str) -> Callable[[dict[str, Any]], None]:
    def sabotage(config: dict[str, Any]) -> None:
        (route,) = [r for r in config["route"]["routes"] if r["matchers"] == [f'severity="{severity}"']]
        route["receiver"] = receiver

    return sabotage


def _drop_watchdog_route(config: dict[str, Any]) -> None:
    config["route"]["routes"] = [r for r in config["route"]["routes"] if r["receiver"] != "heartbeat"]


def _heartbeat_pages(config: dict[str, Any]) -> None:
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "heartbeat"]
    route["receiver"] = "on-call"


SABOTAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "pages-to-the-channel": _set_route("page", "team-channel"),
    "tickets-page-someone": _set_route("ticket", "on-call"),
    "no-heartbeat-route": _drop_watchdog_route,
    "heartbeats-page-someone": _heartbeat_pages,
}


@pytest.mark.parametrize("sabotage", list(SABOTAGES))
def test_a_broken_route_makes_the_route_tests_fail(tmp_path: Path, sabotage: str) -> None:
    copy = tmp_path / "monitoring"
    shutil.copytree(MONITORING, copy)
    config = load_yaml(copy / ALERTMANAGER.name)
    SABOTAGES[sabotage](config)
    (copy / ALERTMANAGER.name).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    assert amtool("check-config", copy / ALERTMANAGER.name).returncode == 0  # still valid: only the meaning changed
    assert route_failures(copy / ALERTMANAGER.name) != [], sabotage


def _render(template: Path, data: dict[str, Any], tmp_path: Path) -> str:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data), encoding="utf-8")
    result = amtool(
        "template",
        "render",
        f"--template.glob={template}",
        '--template.text={{ template "churn.text" . }}',
        f"--template.data={data_file}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


NOT_READY = {
    "receiver": "on-call",
    "status": "firing",
    "groupLabels": {"alertname": "ChurnModelNotReady", "instance": "a:8000"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ChurnModelNotReady", "instance": "a:8000"},
            "annotations": {
                "summary": "churn API a:8000 is not ready (model_file_missing)",
                "reason": "model_file_missing",
                "runbook": "restore models/churn/model.joblib",
            },
        }
    ],
}


def test_every_message_carries_summary_reason_and_runbook(tmp_path: Path) -> None:
    text = _render(MONITORING / "alertmanager.tmpl", NOT_READY, tmp_path)
    assert "churn API a:8000 is not ready (model_file_missing)" in text
    assert "not-ready reason: model_file_missing" in text
    assert "runbook: restore models/churn/model.joblib" in text


def test_a_template_without_the_runbook_line_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "alertmanager.tmpl"
    source = (MONITORING / "alertmanager.tmpl").read_text(encoding="utf-8")
    broken.write_text(source.replace("runbook: {{ .Annotations.runbook }}", ""), encoding="utf-8")
    assert "runbook: restore" not in _render(broken, NOT_READY, tmp_path)


def test_the_synthetic_probe_posts_the_first_real_customer_and_predict_accepts_it(client: TestClient) -> None:
    modules = load_yaml(BLACKBOX)["modules"]
    assert set(modules) == {"churn_predict", "churn_predict_keyed"}
    for module in modules.values():
        http = module["http"]
        assert (http["method"], http["valid_status_codes"]) == ("POST", [200])
        assert json.loads(http["body"]) == VALID_CUSTOMER
        answer = client.post("/predict", json=json.loads(http["body"]))
        assert answer.status_code == 200
    first_row = (ROOT / "data" / "telco_customer_churn.csv").read_text(encoding="utf-8").splitlines()[1]
    assert first_row.startswith("7590-VHVEG,Female,0,Yes,No,1,No,No phone service,DSL")
    assert modules["churn_predict_keyed"]["http"]["authorization"]["type"] == "Bearer"
    checked = subprocess.run(
        [
            shutil.which("prometheus-blackbox-exporter") or "prometheus-blackbox-exporter",
            "--config.check",
            f"--config.file={BLACKBOX}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr

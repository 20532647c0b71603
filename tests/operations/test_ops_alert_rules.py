"""The alert rules and the Prometheus config: promtool's unit tests pass, and fail when a rule is broken; every
alert carries a summary and a runbook and has a firing and a quiet case; every metric and label the rules
select is one the service really exposes. promtool missing is a failure with an install hint, never a skip."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings
from testkit.customers import customer
from testkit.paths import ALERT_RULE_TESTS as RULE_TESTS
from testkit.paths import ALERT_RULES as RULES
from testkit.paths import MONITORING
from testkit.paths import PROMETHEUS_CONFIG as CONFIG
from testkit.prometheus import load_yaml, promtool
from tests.utils.clients import client_with

pytestmark = pytest.mark.long(29)

REQUIRED_ALERTS = {
    "ChurnApiDown",
    "ChurnModelNotReady",
    "ChurnHigh5xxRate",
    "ChurnHighLatencyP99",
    "ChurnValidationFailureSpike",
    "ChurnSyntheticPredictFailing",
    "ChurnChallengerNotReady",
    "ChurnShadowScoringFailing",
    "ChurnInputDrift",
    "Watchdog",
}
WATCHDOG = "Watchdog"  # always fires, so it has no quiet case
SYNTHETIC_JOB = "churnguard-synthetic"  # probe_success comes from blackbox-exporter, not from the service
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
CHURN_METRIC = re.compile(r"\bchurn_[a-z0-9_]+")


def _rules() -> dict[str, dict[str, Any]]:
    groups = load_yaml(RULES)["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_the_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_config_and_rules_are_valid_and_lint_clean() -> None:
    config = promtool("check", "config", CONFIG)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = promtool("check", "rules", "--lint=all", "--lint-fatal", RULES)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in rules.stdout


def _replace(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def sabotage(rule: dict[str, Any]) -> None:
        key = "for" if old.startswith("for:") else "expr"
        text = f"for: {rule['for']}" if key == "for" else rule["expr"]
        assert old in text, f"{rule['alert']}: {old!r} is no longer in its {key}; update this sabotage"
        replaced = text.replace(old, new)
        rule[key] = replaced.removeprefix("for: ") if key == "for" else replaced

    return sabotage


SABOTAGES: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "api-down-too-slow": ("ChurnApiDown", _replace("for: 1m", "for: 5m")),
    "not-ready-inverted": ("ChurnModelNotReady", _replace("== 0", "== 1")),
    "5xx-threshold-too-lax": ("ChurnHigh5xxRate", _replace("> 0.05", "> 0.5")),
    "5xx-counting-probes": (
        "ChurnHigh5xxRate",
        _replace('route!~"/health.*|/metrics|/admin/reload|unmatched", status', "status"),
    ),
    "5xx-counting-client-stalls": ("ChurnHigh5xxRate", _replace('status=~"5.."', 'status=~"5..|408"')),
    "5xx-diluted-by-unmatched-junk": ("ChurnHigh5xxRate", _replace("|unmatched", "")),
    "latency-threshold-too-lax": ("ChurnHighLatencyP99", _replace("> 0.25", "> 2.5")),
    "synthetic-inverted": ("ChurnSyntheticPredictFailing", _replace("== 0", "== 1")),
    "synthetic-too-slow": ("ChurnSyntheticPredictFailing", _replace("for: 3m", "for: 10m")),
    "validation-threshold-too-eager": ("ChurnValidationFailureSpike", _replace("> 0.2", "> 0.01")),
    "challenger-inverted": ("ChurnChallengerNotReady", _replace("== 0", "== 1")),
    "challenger-pages-too-soon": ("ChurnChallengerNotReady", _replace("for: 15m", "for: 5m")),
    "shadow-errors-counting-not-loaded": ("ChurnShadowScoringFailing", _replace('{reason="scoring_failed"}', "")),
    "drift-threshold-too-lax": ("ChurnInputDrift", _replace(">= 0.25", ">= 2.5")),
    "drift-threshold-at-watch": ("ChurnInputDrift", _replace(">= 0.25", ">= 0.1")),
    "drift-too-soon": ("ChurnInputDrift", _replace("for: 30m", "for: 5m")),
    "drift-from-a-small-window": ("ChurnInputDrift", _replace(">= 1000", ">= 0")),
    "validation-metric-misspelt": (
        "ChurnValidationFailureSpike",
        _replace("churn_validation_failures_total", "churn_validation_failure_total"),
    ),
}


@pytest.mark.parametrize("sabotage", list(SABOTAGES))
def test_a_broken_rule_makes_the_unit_tests_fail(tmp_path: Path, sabotage: str) -> None:
    """The unit tests are worth something only if they catch a wrong threshold, duration or metric name."""
    alert, breaks = SABOTAGES[sabotage]
    copy = tmp_path / "monitoring"
    shutil.copytree(MONITORING, copy)
    document = load_yaml(copy / RULES.name)
    (rule,) = [r for group in document["groups"] for r in group["rules"] if r.get("alert") == alert]
    breaks(rule)
    (copy / RULES.name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    assert promtool("check", "rules", copy / RULES.name).returncode == 0  # still valid: only the meaning changed

    result = promtool("test", "rules", copy / RULE_TESTS.relative_to(MONITORING))
    assert result.returncode != 0, f"promtool test rules passed with {sabotage}:\n{result.stdout}"
    assert alert in result.stdout + result.stderr


def test_every_required_alert_exists_with_severity_summary_and_runbook() -> None:
    rules = _rules()
    assert set(rules) >= REQUIRED_ALERTS
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"page", "ticket", "heartbeat"}, name
        assert rule["annotations"]["summary"].strip(), name
        runbook = rule["annotations"]["runbook"].strip()
        assert len(runbook.split()) >= 8, f"{name}: the runbook line should say what to do first"


def test_every_alert_has_a_firing_case_and_a_quiet_case() -> None:
    """Firing: a test expects the alert for some instance. Quiet: that test feeds another instance whose
    series never raise it (promtool compares the exact set, so the quiet instance is checked too)."""
    suites = load_yaml(RULE_TESTS)["tests"]
    for name in set(_rules()) - {WATCHDOG}:
        fired_and_quiet = False
        for suite in suites:
            cases = [case for case in suite.get("alert_rule_test", []) if case["alertname"] == name]
            fired = {alert["exp_labels"].get("instance") for case in cases for alert in case.get("exp_alerts", [])}
            fed = {m.group(1) for s in suite["input_series"] for m in re.finditer(r'instance="([^"]+)"', s["series"])}
            fired_and_quiet |= bool(fired) and bool(fed - fired)
        assert fired_and_quiet, f"{name} needs a test where it fires for one instance and stays quiet for another"


def _exposed(*clients: TestClient) -> dict[str, list[dict[str, str]]]:
    """Sample name -> label sets, after traffic of every kind the rules look at (200, 422, 503)."""
    samples: dict[str, list[dict[str, str]]] = {}
    for client in clients:
        client.post("/predict", json=customer())
        client.post("/predict", json=customer(tenure=-1))
        client.get("/health/ready")
        for family in text_string_to_metric_families(client.get("/metrics").text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append(sample.labels)
    return samples


def test_every_metric_and_label_value_the_rules_select_is_exposed_by_the_service(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """A renamed metric or label would leave an alert that can never fire; this catches it at once."""
    with (
        client_with(settings, model_dir=tmp_path / "no-model") as unready,  # its /predict answers 503
        client_with(settings, challenger_dir=settings.model_dir) as shadowed,  # the challenger's metrics
    ):
        exposed = _exposed(client, unready, shadowed)
    job = load_yaml(CONFIG)["scrape_configs"][0]["job_name"]
    blackbox_metrics = {"probe_success"}
    scrape_labels = {"instance", "job"}
    for name, rule in _rules().items():
        expr = rule["expr"]
        for metric in CHURN_METRIC.findall(expr):
            assert metric in exposed, f"{name}: {metric} is not exposed on /metrics"
        for metric, matchers in SELECTOR.findall(expr):
            for label, op, value in MATCHER.findall(matchers):
                if metric in blackbox_metrics:
                    assert (label, op, value) == ("job", "=", SYNTHETIC_JOB), f"{name}: select the probe job"
                    continue
                if metric == "up":
                    assert (label, op, value) == ("job", "=", job), f"{name}: up must select the scrape job"
                    continue
                values = {labels.get(label) for labels in exposed[metric]}
                assert label in scrape_labels or values - {None}, f"{name}: {metric} has no label {label}"
                if op == "=":
                    assert value in values, f"{name}: {metric}{{{label}={value!r}}} never appears ({values})"
                elif op == "=~":
                    assert any(v and re.fullmatch(value, v) for v in values), f"{name}: {label}=~{value!r} matches none"


def test_prometheus_scrapes_the_service_where_it_listens() -> None:
    config = load_yaml(CONFIG)
    assert config["rule_files"] == [RULES.name]
    job, synthetic = config["scrape_configs"]
    assert synthetic["job_name"] == SYNTHETIC_JOB
    assert synthetic["static_configs"] == job["static_configs"]  # the probe calls the instances that are scraped
    assert job["metrics_path"] == "/metrics"
    (static,) = job["static_configs"]
    ports = {int(target.rsplit(":", 1)[1]) for target in static["targets"]}
    assert ports == {Settings().port}

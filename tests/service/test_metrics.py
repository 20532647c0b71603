"""/metrics: request, latency, prediction and validation counters, and model state read at scrape time."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings
from testkit.customers import customer
from tests.utils.clients import client_with


def _samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_and_latency_are_counted_by_route_template(client: TestClient) -> None:
    client.post("/predict", json=customer())
    client.post("/predict", json=customer(tenure=500))
    client.get("/no/such/path/12345")
    samples = _samples(client)
    assert _value(samples, "churn_http_requests_total", route="/predict", method="POST", status="200") == 1
    assert _value(samples, "churn_http_requests_total", route="/predict", method="POST", status="422") == 1
    assert _value(samples, "churn_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert _value(samples, "churn_http_request_duration_seconds_count", route="/predict", method="POST") == 2
    assert not any("12345" in str(labels) for _, labels in samples)


def test_predictions_are_counted_by_version_and_outcome(client: TestClient) -> None:
    version = client.get("/model").json()["version"]
    rows = [customer(), customer(contract="Two year", tenure=72, total_charges=2000.0)]
    answers = client.post("/predict/batch", json={"customers": rows}).json()["predictions"]
    churn = sum(answer["prediction"] for answer in answers)
    samples = _samples(client)
    assert _value(samples, "churn_predictions_total", model_version=version, outcome="churn") == churn
    assert _value(samples, "churn_predictions_total", model_version=version, outcome="stay") == 2 - churn


def test_validation_failures_are_counted_by_field(client: TestClient) -> None:
    bad = [customer(), customer(tenure=-1), customer(tenure=99, contract="Weekly"), customer(shoe_size=44)]
    assert client.post("/predict/batch", json={"customers": bad}).status_code == 422
    samples = _samples(client)
    assert _value(samples, "churn_validation_failures_total", field="tenure") == 2
    assert _value(samples, "churn_validation_failures_total", field="contract") == 1
    assert _value(samples, "churn_validation_failures_total", field="other") == 1  # unknown names stay bounded


def test_model_state_is_read_at_scrape_time(client: TestClient, model_dir: Path) -> None:
    samples = _samples(client)
    version = client.get("/model").json()["version"]
    assert _value(samples, "churn_model_ready") == 1
    assert _value(samples, "churn_model_info", version=version, mlflow_run_id="") == 1
    assert _value(samples, "churn_model_artifact_present") == 1
    assert _value(samples, "churn_model_last_load_timestamp_seconds") > 0
    (model_dir / "model.joblib").unlink()
    samples = _samples(client)
    assert _value(samples, "churn_model_ready") == 0
    assert _value(samples, "churn_model_artifact_present") == 0
    assert _value(samples, "churn_model_not_ready_reason", reason="model_file_missing") == 1
    assert _value(samples, "churn_model_not_ready_reason", reason="no_model") == 0


def test_without_a_model_readiness_is_zero_with_its_reason(settings: Settings, tmp_path: Path) -> None:
    with client_with(settings, model_dir=tmp_path / "empty") as client:
        samples = _samples(client)
    assert _value(samples, "churn_model_ready") == 0
    assert _value(samples, "churn_model_not_ready_reason", reason="no_model") == 1
    assert _value(samples, "churn_model_artifact_present") == 0

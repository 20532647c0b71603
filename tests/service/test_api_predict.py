"""POST /predict on valid input: every in-profile value is accepted and answered by the loaded model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from experiments.train import TrainResult
from service.app import create_app
from service.manifest import MODEL_FILE
from service.settings import Settings
from testkit.customers import consistent, customer
from tests.utils.models import publish_bytes
from tests.utils.profile import CATEGORICAL, NUMERIC, PROFILE


def _with_value(field: str, value: Any) -> dict[str, Any]:
    """The valid customer with `field` set to `value`, and the fields the rules tie to it made consistent."""
    # Pinned: "No internet service" moves internet_service to "No", multiple_lines "Yes" moves phone_service off "No".
    row = consistent(customer(**{field: value}), PROFILE, pinned=field)
    assert row[field] == value
    return row


def test_answers_with_probability_label_and_the_served_version(client: TestClient) -> None:
    answer = client.post("/predict", json=customer())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"prediction", "probability", "model_version", "request_id"}
    manifest = client.get("/model").json()
    assert body["model_version"] == manifest["version"]
    assert 0.0 <= body["probability"] <= 1.0
    assert body["prediction"] == int(body["probability"] >= manifest["threshold"])
    assert body["request_id"] == answer.headers["x-request-id"]


def test_probability_is_the_trained_pipelines(client: TestClient, baseline_result: TrainResult) -> None:
    rows = [customer(), customer(tenure=60, contract="Two year", total_charges=6000.0, monthly_charges=99.5)]
    expected = baseline_result.pipeline.predict_proba(pd.DataFrame(rows)[list(PROFILE.features)])[:, 1]
    for row, probability in zip(rows, expected, strict=True):
        answer = client.post("/predict", json=row)
        assert answer.status_code == 200, answer.text
        assert answer.json()["probability"] == pytest.approx(probability, rel=1e-12)


@pytest.mark.parametrize(("offset", "label"), [(0.0, 1), (1e-9, 0), (-1e-9, 1)], ids=["at", "above", "below"])
def test_the_label_follows_the_manifests_threshold_inclusively(
    settings: Settings, model_dir: Path, baseline_result: TrainResult, offset: float, label: int
) -> None:
    with TestClient(create_app(settings)) as client:
        probability = client.post("/predict", json=customer()).json()["probability"]
    served = (model_dir / MODEL_FILE).read_bytes()
    publish_bytes(baseline_result, model_dir, served, version="t", threshold=probability + offset)
    with TestClient(create_app(settings)) as client:
        body = client.post("/predict", json=customer()).json()
        batch = client.post("/predict/batch", json={"customers": [customer()]}).json()
    assert (body["model_version"], body["probability"], body["prediction"]) == ("t", probability, label)
    assert batch["predictions"][0]["prediction"] == label


def test_customer_id_is_echoed(client: TestClient) -> None:
    answer = client.post("/predict", json=customer(customer_id="7590-VHVEG"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["customer_id"] == "7590-VHVEG"


@pytest.mark.parametrize(("field", "bound"), [(f, b) for f in NUMERIC for b in ("min", "max")])
def test_numeric_bounds_are_accepted(client: TestClient, field: str, bound: str) -> None:
    value = getattr(NUMERIC[field], bound)
    answer = client.post("/predict", json=_with_value(field, value))
    assert answer.status_code == 200, answer.text
    assert 0.0 <= answer.json()["probability"] <= 1.0


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, spec in CATEGORICAL.items() for v in spec.allowed])
def test_every_training_category_is_accepted(client: TestClient, field: str, value: str) -> None:
    answer = client.post("/predict", json=_with_value(field, value))
    assert answer.status_code == 200, answer.text


def test_a_whole_number_is_a_valid_number(client: TestClient) -> None:
    answer = client.post("/predict", json=customer(monthly_charges=30, total_charges=30))
    assert answer.status_code == 200, answer.text


def test_null_total_charges_is_accepted_at_zero_tenure(client: TestClient) -> None:
    answer = client.post("/predict", json=customer(tenure=0, total_charges=None))
    assert answer.status_code == 200, answer.text

"""POST /predict/batch: order kept, one model version, every bad row and field named, size limits enforced."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.settings import Settings
from testkit.customers import customer
from tests.utils.clients import client_with
from tests.utils.problems import field_errors

MAX_BATCH = 5


def _customers(count: int) -> list[dict[str, Any]]:
    """Distinct valid customers: tenure and charges vary, so each row gets its own probability."""
    return [
        customer(customer_id=f"c-{i}", tenure=1 + 7 * i, monthly_charges=20.0 + 9.5 * i, total_charges=30.0 + 400 * i)
        for i in range(count)
    ]


@pytest.fixture
def small_batches(settings: Settings) -> Any:
    with client_with(settings, max_batch=MAX_BATCH) as client:
        yield client


def test_rows_are_answered_in_order_by_one_model_version(client: TestClient) -> None:
    rows = _customers(8)
    answer = client.post("/predict/batch", json={"customers": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    version = client.get("/model").json()["version"]
    assert body["model_version"] == version
    assert body["request_id"] == answer.headers["x-request-id"]
    predictions = body["predictions"]
    assert [p["customer_id"] for p in predictions] == [row["customer_id"] for row in rows]
    assert {p["model_version"] for p in predictions} == {version}
    assert {p["request_id"] for p in predictions} == {body["request_id"]}
    # Each row's answer is what /predict says about that customer alone (BLAS may differ in the last bit).
    singles = [client.post("/predict", json=row).json()["probability"] for row in rows]
    assert [p["probability"] for p in predictions] == pytest.approx(singles, rel=1e-12)
    assert len(set(singles)) == len(singles)


def test_reversed_batch_gets_reversed_answers(client: TestClient) -> None:
    rows = _customers(6)
    forward = client.post("/predict/batch", json={"customers": rows}).json()["predictions"]
    backward = client.post("/predict/batch", json={"customers": rows[::-1]}).json()["predictions"]
    assert [p["customer_id"] for p in backward] == [p["customer_id"] for p in forward[::-1]]
    assert [p["probability"] for p in backward] == pytest.approx([p["probability"] for p in forward[::-1]], rel=1e-12)


def test_rows_without_customer_id_answer_without_one(client: TestClient) -> None:
    answer = client.post("/predict/batch", json={"customers": [customer(), customer()]})
    assert answer.status_code == 200, answer.text
    assert all("customer_id" not in p for p in answer.json()["predictions"])


def test_every_bad_row_and_field_is_listed(client: TestClient) -> None:
    rows = _customers(5)
    rows[1]["gender"] = "Other"
    rows[3]["tenure"] = -1
    rows[3]["monthly_charges"] = 118.76
    rows[4]["internet_service"] = "No"  # its six add-ons are not "No internet service": six rules break
    del rows[4]["contract"]  # a missing field does not hide the rules whose own fields are valid
    rows[2]["internet_service"] = "No"
    addons = ("online_security", "online_backup", "device_protection", "tech_support", "streaming_tv")
    rows[2].update(dict.fromkeys(addons, "No internet service"))  # all but streaming_movies
    errors = field_errors(client.post("/predict/batch", json={"customers": rows}))
    assert set(errors) == {
        "customers[1].gender",
        "customers[2].streaming_movies",
        "customers[3].tenure",
        "customers[3].monthly_charges",
        "customers[4].contract",
        *(f"customers[4].{addon}" for addon in (*addons, "streaming_movies")),
    }
    assert errors["customers[1].gender"]["allowed"] == ["Female", "Male"]
    assert errors["customers[3].tenure"]["valid_range"] == {"min": 0, "max": 72}
    assert errors["customers[3].monthly_charges"]["valid_range"] == {"min": 18.25, "max": 118.75}
    assert errors["customers[2].streaming_movies"]["rule"] == "streaming_movies_needs_internet"
    assert errors["customers[4].contract"]["message"] == "field required"


def test_a_full_batch_is_accepted(small_batches: TestClient) -> None:
    answer = small_batches.post("/predict/batch", json={"customers": _customers(MAX_BATCH)})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == MAX_BATCH


def test_one_over_max_batch_is_refused(small_batches: TestClient) -> None:
    errors = field_errors(small_batches.post("/predict/batch", json={"customers": _customers(MAX_BATCH + 1)}))
    assert set(errors) == {"customers"}
    assert str(MAX_BATCH) in errors["customers"]["message"]


def test_an_empty_batch_is_refused(client: TestClient) -> None:
    errors = field_errors(client.post("/predict/batch", json={"customers": []}))
    assert set(errors) == {"customers"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "customers"),
        ({"customers": customer()}, "customers"),
        ({"customers": [customer()], "priority": "high"}, "priority"),
        ({"customers": [customer()], "tenure": 5}, "tenure"),
        ({"customers": [customer(), "x"]}, "customers[1]"),
        ([customer()], "body"),
    ],
    ids=["missing", "not-a-list", "extra-key", "extra-key-named-like-a-feature", "row-not-an-object", "bare-list"],
)
def test_a_malformed_batch_names_the_problem(client: TestClient, body: Any, field: str) -> None:
    errors = field_errors(client.post("/predict/batch", json=body))
    assert set(errors) == {field}
    assert "valid_range" not in errors[field]  # not even for an unknown key that shares a feature's name
    assert "allowed" not in errors[field]

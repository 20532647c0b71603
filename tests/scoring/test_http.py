"""HTTP: text/csv on /predict/batch (same contract as JSON), the weekly list over HTTP, keys, OpenAPI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from service.settings import Settings
from testkit.customers import customer
from testkit.paths import DATA
from tests.scoring.kit import data_rows, write_csv
from tests.utils.clients import client_with
from tests.utils.problems import assert_problem

CSV = {"content-type": "text/csv"}
BODY = DATA.read_bytes()
FIRST_ROWS = b"".join(BODY.splitlines(keepends=True)[:51])  # header + 50 customers


def test_a_csv_batch_answers_as_the_json_batch_does(client: TestClient) -> None:
    rows = list(csv.DictReader(io.StringIO(FIRST_ROWS.decode())))
    answer = client.post("/predict/batch", content=FIRST_ROWS, headers=CSV)
    assert answer.status_code == 200
    predictions = answer.json()["predictions"]
    assert [p["customer_id"] for p in predictions] == [r["customerID"] for r in rows]
    as_csv = client.post("/predict/batch", content=FIRST_ROWS, headers={**CSV, "accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    listed = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [float(r["probability"]) for r in listed] == [p["probability"] for p in predictions]
    # The shared valid customer is the data set's first row, 7590-VHVEG.
    assert client.post("/predict", json=customer()).json()["probability"] == predictions[0]["probability"]


def test_a_csv_batch_with_bad_rows_is_refused_whole_naming_each(client: TestClient) -> None:
    lines = FIRST_ROWS.decode().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("tenure")] = "99"
    lines[3] = ",".join(row)
    lines[5] = "too,few"
    body = assert_problem(client.post("/predict/batch", content="\n".join(lines), headers=CSV), 422)
    assert [e["field"] for e in body["errors"]] == ["customers[2].tenure", "customers[4]"]
    assert body["errors"][0]["valid_range"] == {"min": 0, "max": 72}


def test_a_csv_batch_over_the_limit_or_without_columns_is_422(settings: Settings) -> None:
    with client_with(settings, max_batch=10) as client:
        body = assert_problem(client.post("/predict/batch", content=FIRST_ROWS, headers=CSV), 422)
        assert body["errors"][0]["message"] == "between 1 and 10 rows per batch; got 50"
        missing = FIRST_ROWS.replace(b"tenure", b"months", 1)
        body = assert_problem(client.post("/predict/batch", content=missing, headers=CSV), 422)
        assert "required columns missing: tenure" in body["errors"][0]["message"]


def test_the_weekly_list_over_http_lists_good_rows_and_names_bad_ones(client: TestClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = data_rows()[:500]
    rows[7]["tenure"] = "-3"
    export = write_csv(tmp_path / "week.csv", rows).read_bytes()
    answer = client.post("/predict/weekly?top=20", content=export, headers=CSV)
    assert answer.status_code == 200
    body = answer.json()
    assert body["summary"]["rows"] == {"read": 500, "scored": 499, "rejected": 1, "duplicates": 0, "listed": 20}
    assert [r["rank"] for r in body["at_risk"]] == list(range(1, 21))
    assert body["rejected"][0]["line"] == 9
    assert body["rejected"][0]["problems"][0]["field"] == "tenure"
    assert body["summary"]["over_limit"] is False
    as_csv = client.post("/predict/weekly", content=export, headers={**CSV, "accept": "text/csv"})
    assert len(as_csv.text.splitlines()) == 500  # header + 499 listed
    assert as_csv.headers["x-rows-rejected"] == "1"


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"a,b\n1,2\n", CSV, 422),
        (b"", CSV, 422),
        (FIRST_ROWS, {"content-type": "application/json"}, 415),
    ],
)
def test_an_unusable_weekly_upload_is_a_problem_answer(
    client: TestClient, content: bytes, headers: dict[str, str], status: int
) -> None:
    assert_problem(client.post("/predict/weekly", content=content, headers=headers), status)


def test_the_weekly_upload_has_its_own_body_limit(settings: Settings) -> None:
    with client_with(settings, max_weekly_bytes=4096, max_body_bytes=1 << 20) as client:
        assert_problem(client.post("/predict/weekly", content=FIRST_ROWS * 3, headers=CSV), 413)
        assert client.post("/predict/batch", content=FIRST_ROWS, headers=CSV).status_code == 200


def test_the_new_routes_need_the_predict_role(settings: Settings) -> None:
    with client_with(settings, api_keys=("k-1",)) as client:
        for path in ("/predict/batch", "/predict/batch/csv", "/predict/weekly"):
            assert_problem(client.post(path, content=FIRST_ROWS, headers=CSV), 401)
        keyed = {**CSV, "x-api-key": "k-1"}
        assert client.post("/predict/batch", content=FIRST_ROWS, headers=keyed).status_code == 200
        assert client.post("/predict/weekly", content=FIRST_ROWS, headers=keyed).status_code == 200


def test_openapi_declares_the_csv_media_types(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    batch = spec["paths"]["/predict/batch"]["post"]
    assert {"application/json", "text/csv"} <= set(batch["requestBody"]["content"])
    assert "text/csv" in batch["responses"]["200"]["content"]
    weekly = spec["paths"]["/predict/weekly"]["post"]
    assert set(weekly["requestBody"]["content"]) == {"text/csv", "application/vnd.apache.parquet"}
    assert weekly["security"]
    assert json.dumps(spec).count("/predict/batch/csv") == 0  # the dispatcher's target stays internal

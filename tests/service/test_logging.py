"""Logs: one JSON access line per request with the fields operators need, and never the request body."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.logs import JsonFormatter, configure_logging
from service.settings import Settings
from testkit.customers import customer
from tests.utils.clients import client_with

ACCESS_FIELDS = {"request_id", "method", "path", "status", "latency_ms", "model_version"}
MARKER_ID = "cust-marker-8675309"
MARKER_CATEGORY = "Leaky-Category-Value"
BIG_BATCH = 2000


def _access(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access records captured so far, as the JSON lines the service writes (parsed back)."""
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "churnguard.access"]
    assert not [line for line in lines if "\n" in line]
    return [json.loads(line) for line in lines]


@pytest.fixture
def small_bodies(settings: Settings) -> Iterator[TestClient]:
    with client_with(settings, max_body_bytes=1024) as client:
        yield client


def test_one_line_per_request_with_every_field(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="churnguard")
    version = client.get("/model").json()["version"]
    caplog.clear()
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/predict", {"json": customer(customer_id=MARKER_ID)}),
        ("POST", "/predict/batch", {"json": {"customers": [customer(customer_id=MARKER_ID)] * BIG_BATCH}}),
        ("POST", "/predict", {"json": customer(gender=MARKER_CATEGORY, customer_id=MARKER_ID)}),
        ("GET", "/health", {}),
        ("GET", "/health/live", {}),
        ("GET", "/model", {}),
        ("GET", "/missing", {"headers": {"x-request-id": "log-404"}}),
        ("GET", "/predict", {}),
    ]
    answers, elapsed_ms = [], []
    for method, path, kwargs in requests:
        started = time.perf_counter()
        answers.append(client.request(method, path, **kwargs))
        elapsed_ms.append((time.perf_counter() - started) * 1000)
    lines = _access(caplog)
    assert len(lines) == len(answers)
    for line, answer, spent in zip(lines, answers, elapsed_ms, strict=True):
        assert 0.0 <= line["latency_ms"] <= spent  # measured, not made up: never more than the client waited
        assert set(line) >= ACCESS_FIELDS
        assert line["message"] == "request"
        assert line["level"] == "INFO"
        assert line["request_id"] == answer.headers["x-request-id"]
        assert line["method"] == answer.request.method
        assert line["path"] == answer.request.url.path
        assert line["status"] == answer.status_code
        assert isinstance(line["latency_ms"], float)
    assert [line["status"] for line in lines] == [200, 200, 422, 200, 200, 200, 404, 405]
    assert [line["model_version"] for line in lines] == [version, version, None, version, None, version, None, None]
    assert lines[6]["request_id"] == "log-404"
    assert lines[1]["latency_ms"] > 5 * lines[4]["latency_ms"]  # a big batch takes longer than a liveness probe
    # No request body content in any log line, access or otherwise.
    everything = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert MARKER_ID not in everything
    assert MARKER_CATEGORY not in everything


def test_oversize_bodies_are_logged_too(small_bodies: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="churnguard.access")
    answer = small_bodies.post("/predict", content=b" " * 2000, headers={"content-type": "application/json"})
    [line] = _access(caplog)
    assert (line["status"], line["path"], line["request_id"]) == (413, "/predict", answer.headers["x-request-id"])


def test_json_formatter_writes_extras_and_the_traceback_on_one_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.getLogger("churnguard.test").makeRecord(
            "churnguard.test", logging.ERROR, __file__, 1, "failed %s", ("here",), exc_info=sys.exc_info(),
            extra={"request_id": "r-1", "latency_ms": 1.5},
        )  # fmt: skip
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "failed here"
    assert line["level"] == "ERROR"
    assert line["logger"] == "churnguard.test"
    assert (line["request_id"], line["latency_ms"]) == ("r-1", 1.5)
    assert "ValueError: bad" in line["exc_info"]
    assert "Traceback" in line["exc_info"]
    assert not {"args", "msg", "pathname", "exc_text"} & set(line)


def test_configure_logging_routes_everything_through_one_json_handler() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("uvicorn.access").disabled)
    try:
        configure_logging("WARNING")
        assert root.level == logging.WARNING
        [handler] = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert logging.getLogger("uvicorn.access").disabled
        assert logging.getLogger("uvicorn.error").propagate
        assert not logging.getLogger("uvicorn").handlers
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("uvicorn.access").disabled = saved[2]

"""X-Request-ID: a caller's harmless id is honoured end to end; anything else is replaced by a fresh one."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from testkit.customers import customer
from tests.utils.asgi import call
from tests.utils.problems import assert_problem

GENERATED = re.compile(r"[0-9a-f]{32}")
SAFE = ["abc-123", "trace.id_42", "A" * 64, "7"]
UNSAFE: list[bytes] = [b"has space", b"a" * 65, b"<script>", b"id;drop", b"caf\xc3\xa9", b"a/b", b"x=1"]


@pytest.mark.parametrize("request_id", SAFE)
def test_a_safe_id_is_honoured_on_success(client: TestClient, request_id: str) -> None:
    answer = client.post("/predict", json=customer(), headers={"x-request-id": request_id})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == request_id
    assert answer.json()["request_id"] == request_id


def test_a_safe_id_is_honoured_on_errors_and_health(client: TestClient) -> None:
    headers = {"x-request-id": "caller-7"}
    assert assert_problem(client.post("/predict", json={}, headers=headers), 422)["request_id"] == "caller-7"
    assert assert_problem(client.get("/nope", headers=headers), 404)["request_id"] == "caller-7"
    assert client.get("/health", headers=headers).headers["x-request-id"] == "caller-7"
    batch = client.post("/predict/batch", json={"customers": [customer()]}, headers=headers).json()
    assert batch["request_id"] == "caller-7"
    assert batch["predictions"][0]["request_id"] == "caller-7"


@pytest.mark.parametrize("request_id", UNSAFE)
def test_an_unsafe_id_is_replaced(client: TestClient, request_id: bytes) -> None:
    answer = client.post("/predict", json=customer(), headers={b"x-request-id": request_id})
    assert answer.status_code == 200, answer.text
    assert GENERATED.fullmatch(answer.headers["x-request-id"])
    assert answer.json()["request_id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize("request_id", [b"abc\n", b"abc\r\nSet-Cookie: x=1", b"\nabc"])
def test_an_id_with_line_breaks_is_replaced(client: TestClient, request_id: bytes) -> None:
    # An HTTP client refuses to send these; an ASGI server or proxy might pass them on.
    raw = call(client.app, "GET", "/health/live", [(b"x-request-id", request_id)])
    assert raw.status == 200
    assert GENERATED.fullmatch(raw.headers["x-request-id"])


def test_without_an_id_each_request_gets_its_own(client: TestClient) -> None:
    ids = {client.get("/health/live").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(GENERATED.fullmatch(request_id) for request_id in ids)

"""Every error status the service answers (400, 404, 405, 413, 415, 500) as RFC 9457 problem+json."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from experiments.train import TrainResult
from service.app import create_app
from service.settings import Settings
from testkit.customers import customer
from tests.utils.asgi import call
from tests.utils.clients import client_with
from tests.utils.models import EXPLOSION, exploding, publish
from tests.utils.problems import assert_problem

LIMIT = 2048
BODY = json.dumps(customer()).encode()
JSON = {"content-type": "application/json"}


@pytest.fixture
def small_bodies(settings: Settings) -> Iterator[TestClient]:
    with client_with(settings, max_body_bytes=LIMIT) as client:
        yield client


@pytest.fixture
def failing_model(settings: Settings, model_dir: Path, baseline_result: TrainResult) -> Iterator[TestClient]:
    """A real model directory whose estimator raises at predict time: an unexpected failure, not a mock."""
    publish(exploding(baseline_result), model_dir, version="boom-1")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    "text", [b"{", b'{"gender": "Male",}', b"not json", b'{"tenure": 1} trailing', b"\xff\xfe\x00"],
    ids=["truncated", "trailing-comma", "bare-word", "trailing-garbage", "not-utf8"],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_malformed_json_is_400(client: TestClient, path: str, text: bytes) -> None:
    body = assert_problem(client.post(path, content=text, headers=JSON), 400)
    assert body["title"] == "Malformed Request"
    assert "errors" not in body


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/predict/single"), ("GET", "/Predict")])
def test_unknown_path_is_404(client: TestClient, method: str, path: str) -> None:
    body = assert_problem(client.request(method, path), 404)
    assert path in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/predict", "POST"),
        ("PUT", "/predict/batch", "POST"),
        ("POST", "/health", "GET, HEAD"),
        ("DELETE", "/model", "GET, HEAD"),
        ("POST", "/health/live", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(client: TestClient, method: str, path: str, allow: str) -> None:
    answer = client.request(method, path)
    body = assert_problem(answer, 405)
    assert answer.headers["allow"] == allow
    assert method in body["detail"]
    assert allow in body["detail"]


def test_declared_oversize_body_is_413_before_reading(small_bodies: TestClient) -> None:
    answer = small_bodies.post("/predict", content=b" " * (LIMIT + 1), headers=JSON)
    assert answer.request.headers["content-length"] == str(LIMIT + 1)
    body = assert_problem(answer, 413)
    assert str(LIMIT) in body["detail"]
    # The raw app proves the body was never read: the answer came before the first chunk was received.
    headers = [(b"content-type", b"application/json"), (b"content-length", str(LIMIT + 1).encode())]
    raw = call(small_bodies.app, "POST", "/predict", headers, [b" " * (LIMIT + 1)])
    assert raw.status == 413
    assert raw.chunks_read == 0


def test_streamed_oversize_body_without_length_is_413(small_bodies: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"customers": ['
        for _ in range(LIMIT // len(BODY) + 1):
            yield BODY + b","

    answer = small_bodies.post("/predict/batch", content=chunks(), headers=JSON)
    assert "content-length" not in answer.request.headers
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert str(LIMIT) in assert_problem(answer, 413)["detail"]


def test_body_over_the_limit_in_many_small_chunks_is_413(small_bodies: TestClient) -> None:
    chunks = [b" " * 256] * (LIMIT // 256 + 4)
    raw = call(small_bodies.app, "POST", "/predict", [(b"content-type", b"application/json")], chunks)
    assert raw.status == 413
    assert raw.headers["content-type"] == "application/problem+json"
    assert raw.json()["request_id"] == raw.headers["x-request-id"]
    assert raw.chunks_read == LIMIT // 256 + 1  # stopped at the first chunk past the limit


def test_body_at_the_limit_is_read(small_bodies: TestClient) -> None:
    text = BODY + b" " * (LIMIT - len(BODY))
    assert len(text) == LIMIT
    assert small_bodies.post("/predict", content=text, headers=JSON).status_code == 200


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json", "application/jsonl"]
)
def test_body_that_is_not_json_media_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    answer = client.post("/predict", content=BODY, headers=headers)
    assert ("content-type" in answer.request.headers) == (content_type is not None)
    body = assert_problem(answer, 415)
    assert (content_type or "no Content-Type") in body["detail"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_media_type_parameters_and_case_are_accepted(client: TestClient, content_type: str) -> None:
    assert client.post("/predict", content=BODY, headers={"content-type": content_type}).status_code == 200


@pytest.mark.parametrize(
    ("path", "payload"), [("/predict", customer()), ("/predict/batch", {"customers": [customer()]})]
)
def test_unexpected_failure_is_a_generic_500_with_the_traceback_only_in_the_log(
    failing_model: TestClient, caplog: pytest.LogCaptureFixture, path: str, payload: object
) -> None:
    with caplog.at_level(logging.ERROR, logger="churnguard.error"):
        answer = failing_model.post(path, json=payload, headers={"x-request-id": "trace-me-500"})
    body = assert_problem(answer, 500)
    assert body["request_id"] == "trace-me-500"
    assert "request_id" in body["detail"]
    for leak in ("Traceback", "RuntimeError", EXPLOSION, "predict_proba", ".py"):
        assert leak not in answer.text
    [record] = [r for r in caplog.records if r.name == "churnguard.error"]
    assert record.__dict__["request_id"] == "trace-me-500"
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert EXPLOSION in caplog.text
    assert "Traceback" in caplog.text

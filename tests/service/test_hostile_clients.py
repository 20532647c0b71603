"""Hostile and broken clients against a real `python -m service` (uvicorn) on 127.0.0.1, raw sockets where an
HTTP client would not send the request: nothing stalls the loop, grows /metrics, holds a socket, or is
answered other than problem+json (issue 14)."""

from __future__ import annotations

import http.client
import json
import random
import shutil
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.errors import ECHO_LIMIT
from service.manifest import MODEL_FILE
from service.server import MAX_HEAD_BYTES
from testkit.client import Answer, fetch
from testkit.customers import customer
from testkit.net import HOST, accepts_connections, free_port
from testkit.process import clean_env, running, start
from testkit.service import Service, launch
from tests.utils.workers import planted_service

pytestmark = [pytest.mark.slow, pytest.mark.long(21)]

CLIENT_TIMEOUT = 1.0  # seconds: short, so the timeout tests are quick; the README documents the 10 s default
LIVENESS_P99 = 0.100  # issue 14: /health/live p99 under 100 ms while the worst bodies are processed
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, _session_model_dir: Path) -> Path:
    """The module's own copy of the model (a test moves its file away and back)."""
    copy = tmp_path_factory.mktemp("hostile") / "models" / "churn"
    shutil.copytree(_session_model_dir, copy)
    return copy


@pytest.fixture(scope="module")
def service(model_dir: Path) -> Iterator[Service]:
    with launch(
        model_dir.parent.parent,
        model_dir=model_dir,
        client_timeout_seconds=CLIENT_TIMEOUT,
        reload_interval_seconds=3600,
    ) as running:
        yield running


def _raw(port: int, data: bytes, *, wait: float = 3.0) -> tuple[bytes, bool]:
    """Send `data` on a fresh connection; everything answered within `wait` s, and whether the server closed."""
    with socket.create_connection((HOST, port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received, False
            if not chunk:
                return received, True
            received += chunk
        return received, False


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _assert_raw_problem(raw: bytes, status: int) -> dict[str, object]:
    code, headers, body = _parse(raw)
    assert code == status, raw[:500]
    assert headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = json.loads(body)
    assert problem["status"] == status
    assert problem["request_id"] == headers["x-request-id"]
    return problem


# -- 1. No request within the body limit holds the event loop ---------------------------------------------------


def _worst_bodies() -> dict[str, tuple[str, bytes]]:
    row = json.dumps(customer()).encode()
    return {
        "10,000 empty rows": ("/predict/batch", b'{"customers":[' + b",".join([b"{}"] * 10_000) + b"]}"),
        "200,000 unknown keys": ("/predict", b"{" + b",".join(b'"k%d":0' % i for i in range(200_000)) + b"}"),
        "10,000 valid rows": ("/predict/batch", b'{"customers":[' + b",".join([row] * 10_000) + b"]}"),
        "8 MiB of zeros": ("/predict/batch", b'{"customers":[' + b"0," * (4 * 1024 * 1024 - 16) + b"0]}"),
        "1 MB field name": ("/predict", b'{"' + b"x" * 1_000_000 + b'":1}'),
    }


def _probe_liveness(port: int, stop: threading.Event, latencies: list[float]) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            connection.request("GET", "/health/live")
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            stop.wait(0.01)  # ~100 probes a second: a probe is not itself load
    finally:
        connection.close()


# The peer: an idle HTTP server that does nothing but answer, probed in the same seconds as the service. What it
# waits, the loaded host's scheduler made it wait, so that part of the service's wait is not the service's (in a
# fresh tox on two cores, with no fault, the service's p99 once reached 101.5 ms against 13.4 ms quiet).
PEER = """
import http.server, sys
class Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), Answer).serve_forever()
"""


@dataclass(frozen=True)
class Liveness:
    statuses: dict[str, int]
    p99: float  # /health/live while the worst bodies are sent
    peer_p99: float  # the idle peer, probed in the same seconds

    @property
    def figures(self) -> str:
        return f"/health/live p99 {self.p99 * 1000:.1f} ms, the idle peer's {self.peer_p99 * 1000:.1f} ms"


def _liveness_under_the_worst_bodies(port: int, work: Path) -> Liveness:
    bodies = _worst_bodies()
    peer_port = free_port()
    peer = start("the idle peer", [sys.executable, "-c", PEER, HOST, str(peer_port)], log_path=work / "peer.log",
                 env=clean_env())  # fmt: skip
    with running(peer, lambda: accepts_connections(peer_port), 30.0, "the idle peer"):
        stop = threading.Event()
        latencies: dict[int, list[float]] = {port: [], peer_port: []}
        probers = [threading.Thread(target=_probe_liveness, args=(p, stop, found)) for p, found in latencies.items()]
        for prober in probers:
            prober.start()
        statuses = {}
        try:
            for name, (path, body) in bodies.items():
                for _ in range(2):
                    statuses[name] = fetch(port, "POST", path, body, headers=JSON, timeout=60).status
        finally:
            stop.set()
            for prober in probers:
                prober.join()
    p99, peer_p99 = (statistics.quantiles(latencies[p], n=100)[98] for p in (port, peer_port))
    return Liveness(statuses, p99, peer_p99)


def test_the_worst_bodies_do_not_hold_the_event_loop(service: Service, tmp_path: Path) -> None:
    """Issue 14: p99 under 100 ms, beyond what the host's scheduler makes an idle peer wait in the same seconds."""
    measured = _liveness_under_the_worst_bodies(service.port, tmp_path)
    print(measured.figures)
    assert measured.statuses == {
        "10,000 empty rows": 422,
        "200,000 unknown keys": 422,
        "10,000 valid rows": 200,
        "8 MiB of zeros": 413,
        "1 MB field name": 422,
    }
    assert measured.p99 - measured.peer_p99 < LIVENESS_P99, measured.figures


def test_bodies_parsed_on_the_loop_instead_of_the_worker_process_are_caught(tmp_path: Path, model_dir: Path) -> None:
    """The fault the offload process exists for: every body parsed and validated where it arrives (632-670 ms
    measured). Parsed in a thread instead, the loop waited 122-204 ms (json.loads and pydantic hold the GIL for
    whole calls): caught here too, but by a margin a faster host could erase, so that one is not the proof."""
    command = planted_service(
        tmp_path, "service/dataplane.py", "            if len(body) <= INLINE_BYTES:\n", "            if True:\n"
    )
    with launch(tmp_path, command=command, model_dir=model_dir) as planted:
        measured = _liveness_under_the_worst_bodies(planted.port, tmp_path)
    print(measured.figures)
    assert measured.p99 - measured.peer_p99 >= LIVENESS_P99, measured.figures


def test_error_collection_is_bounded_and_counts_the_rest(service: Service) -> None:
    path, body = _worst_bodies()["10,000 empty rows"]
    answer = fetch(service.port, "POST", path, body, headers=JSON)
    problem = answer.json()
    assert len(problem["errors"]) == 1000
    assert problem["errors_omitted"] == 10_000 * 19 - 1000
    assert problem["detail"] == "190000 problems with the input; the first 1000 are in `errors`"
    assert len(answer.body) < 256 * 1024  # the documented ceiling of a 422 answer
    one = fetch(service.port, "POST", "/predict", _worst_bodies()["200,000 unknown keys"][1], headers=JSON)
    assert len(one.json()["errors"]) == 100  # per row
    assert one.json()["errors_omitted"] == 200_000 + 19 - 100


# -- 2. Bounded metric labels --------------------------------------------------------------------------------------


def _metric_series(port: int) -> tuple[int, set[str]]:
    text = fetch(port, "GET", "/metrics").body.decode()
    series = {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}
    return len(text), series


def test_random_methods_and_paths_do_not_grow_metrics(service: Service) -> None:
    rng = random.Random(14)  # noqa: S311 - reproducible junk, not a secret
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def hostile(count: int) -> None:
        connection = http.client.HTTPConnection(HOST, service.port, timeout=10)
        try:
            for _ in range(count):
                method = "".join(rng.choice(letters) for _ in range(rng.randint(3, 40)))
                path = "/" + "".join(rng.choice("abcdefxyz/") for _ in range(rng.randint(1, 60)))
                connection.request(method, path)
                response = connection.getresponse()
                response.read()
                assert response.status in {404, 405}
        finally:
            connection.close()

    size_before, _ = _metric_series(service.port)
    hostile(10)  # the first unknown method and path create their `other` / `unmatched` series once
    size_warmed, warmed = _metric_series(service.port)
    hostile(1000)
    size_after, after = _metric_series(service.port)
    print(
        f"/metrics {size_before} bytes before, {size_warmed} after 10 random methods and paths "
        f"({len(warmed)} series), {size_after} after 1,000 more ({len(after)} series)"
    )
    assert after == warmed
    assert any('method="other"' in line and 'route="unmatched"' in line for line in after)


# -- 3. Header-read timeout; keep-alive kept ----------------------------------------------------------------------


def test_an_idle_connection_is_closed_after_the_client_timeout(service: Service) -> None:
    started = time.monotonic()
    received, closed = _raw(service.port, b"", wait=CLIENT_TIMEOUT + 2)
    assert closed
    assert received == b""
    assert CLIENT_TIMEOUT * 0.9 <= time.monotonic() - started < CLIENT_TIMEOUT + 1.5


def test_a_connection_stopped_mid_headers_gets_408_and_is_closed(service: Service) -> None:
    received, closed = _raw(service.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", wait=CLIENT_TIMEOUT + 2)
    assert closed
    _assert_raw_problem(received, 408)


def test_keep_alive_still_serves_several_requests_on_one_connection(service: Service) -> None:
    connection = http.client.HTTPConnection(HOST, service.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/health/live")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            time.sleep(CLIENT_TIMEOUT / 2)  # idle between requests, within keep-alive: the connection stays
    finally:
        connection.close()


# -- 4. A 422 lists every problem ------------------------------------------------------------------------------


def test_a_422_lists_cross_field_rules_beside_field_errors(service: Service) -> None:
    row = customer(tenure=99, phone_service="No", multiple_lines="Yes")
    problem = fetch(service.port, "POST", "/predict", row).json()
    by_field = {error["field"]: error for error in problem["errors"]}
    assert set(by_field) == {"tenure", "multiple_lines"}
    assert by_field["multiple_lines"]["rule"]


# -- 5. A client's stall is a 408, a client error ------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_is_408_logged_as_a_client_error(service: Service) -> None:
    request = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}"
    received, _ = _raw(service.port, request, wait=CLIENT_TIMEOUT + 2)
    problem = _assert_raw_problem(received, 408)
    lines = [json.loads(line) for line in service.log().splitlines() if str(problem["request_id"]) in line]
    assert {line["level"] for line in lines} == {"WARNING", "INFO"}  # "client stalled", then the access line
    assert not any(line["level"] == "ERROR" for line in lines)
    _, series = _metric_series(service.port)
    assert any('route="/predict"' in s and 'status="408"' in s for s in series)


# -- 6. No redirects, nothing from Host ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/predict/", "/model/", "/metrics/", "/admin/reload/", "/predict%2F"])
def test_paths_outside_the_contract_are_404_without_redirect(service: Service, path: str) -> None:
    for method in ("GET", "POST"):
        request = f"{method} {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode()
        received, _ = _raw(service.port, request)
        _assert_raw_problem(received, 404)
        assert b"evil.example" not in received
        assert b"location:" not in received.lower()


# -- 7. HEAD wherever GET ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready", "/model", "/metrics", "/openapi.json"])
def test_head_answers_like_get_without_a_body(service: Service, path: str) -> None:
    get = fetch(service.port, "GET", path)
    head = fetch(service.port, "HEAD", path)
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.headers["content-type"] == get.headers["content-type"]


# -- 8. Echoed input is truncated ---------------------------------------------------------------------------------


def test_echoed_input_is_clipped_in_answers_and_logs(service: Service) -> None:
    name = fetch(service.port, "POST", "/predict", {"f" * 1_000_000: 1, **customer()})
    assert name.status == 422
    assert len(name.body) < 2048
    media = fetch(service.port, "POST", "/predict", customer(), headers={"Content-Type": "text/" + "x" * 10_000})
    assert media.status == 415
    assert len(media.body) < 1024
    long_path = "/" + "p" * 10_000
    missing = fetch(service.port, "GET", long_path)
    assert missing.status == 404
    assert len(missing.body) < 1024
    assert missing.json()["instance"].startswith("/" + "p" * (ECHO_LIMIT - 1))
    assert max(len(line) for line in service.log().splitlines()) < 2048


# -- 9 and 11. Framing errors answer problem+json; conflicting framing is refused --------------------------------------


FRAMING = {
    "content-length and chunked": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "no host": (b"GET /health/live HTTP/1.1\r\n\r\n", 400),
    "malformed content-length": (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    "bad chunk": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "not http": (b"HELLO\r\n\r\n", 400),
    "1 MB path": (b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "1 MB header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n", 431),
}


@pytest.mark.parametrize("case", list(FRAMING))
def test_framing_errors_are_problem_json_and_close_the_connection(service: Service, case: str) -> None:
    request, status = FRAMING[case]
    received, closed = _raw(service.port, request)
    _assert_raw_problem(received, status)
    assert closed


def test_headers_just_under_the_limit_are_served(service: Service) -> None:
    padding = "a" * (MAX_HEAD_BYTES - 200)
    assert fetch(service.port, "GET", "/health/live", headers={"X-Padding": padding}).status == 200


# -- 10. Media types: application/json, UTF-8 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/merge-patch+json",
        "application/problem+json",
        "application/vnd.api+json",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
    ],
)
def test_other_media_types_and_charsets_are_415(service: Service, content_type: str) -> None:
    answer = fetch(service.port, "POST", "/predict", customer(), headers={"Content-Type": content_type})
    assert answer.status == 415
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON; charset=UTF-8", 'application/json;charset="utf-8"']
)
def test_json_in_utf8_is_accepted(service: Service, content_type: str) -> None:
    assert fetch(service.port, "POST", "/predict", customer(), headers={"Content-Type": content_type}).status == 200


def test_a_utf16_body_labelled_utf8_is_400(service: Service) -> None:
    body = json.dumps(customer()).encode("utf-16")
    answer = fetch(service.port, "POST", "/predict", body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert answer.status == 400
    assert "UTF-8" in answer.json()["detail"]


# -- 12. No absolute paths in open endpoints --------------------------------------------------------------------------


def test_the_open_health_reason_names_no_path_or_hash(service: Service, tmp_path: Path) -> None:
    served = _served_model_file(service)
    moved = tmp_path / MODEL_FILE
    shutil.move(served, moved)
    try:
        answer: Answer = fetch(service.port, "GET", "/health")
        reason = answer.json()["reason"]
        assert answer.status == 503
        assert f"{MODEL_FILE} was deleted" in reason
        assert "/" not in reason
    finally:
        shutil.move(moved, served)
    assert fetch(service.port, "GET", "/health").status == 200


def _served_model_file(service: Service) -> Path:
    for line in service.log().splitlines():
        record = json.loads(line)
        if record.get("message") == "service ready":
            return Path(record["model_dir"]) / MODEL_FILE
    raise AssertionError("no `service ready` line in the log")

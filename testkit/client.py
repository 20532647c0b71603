"""The one HTTP client for processes on the loopback: HTTP/1.1 over `http.client`, which never consults proxy
variables, so a developer's `http_proxy` cannot reroute a request to 127.0.0.1. One request on a fresh
connection (`fetch`), or many on one keep-alive connection (`Client`, for latency measurements)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from testkit.net import HOST

# What `probe` treats as "nothing answers yet": refused, reset, timed out, or an answer cut short.
NOT_ANSWERING = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.perf_counter() when the answer had been read

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def data(self) -> Any:
        """The parsed JSON, or the text when the body is not JSON."""
        try:
            return self.json()
        except ValueError:
            return self.body.decode(errors="replace")


class Client:
    """One keep-alive connection to `HOST:port`; `body` is sent as JSON (bytes as they are)."""

    def __init__(self, port: int, *, timeout: float = 10.0) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None) -> Answer:
        sent_headers = dict(headers or {})
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent_headers.setdefault("Content-Type", "application/json")
        self.connection.request(method, path, body=payload, headers=sent_headers)
        response = self.connection.getresponse()
        raw = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, raw, time.perf_counter())

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def fetch(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    """One request on a fresh connection, closed afterwards."""
    with Client(port, timeout=timeout) as client:
        return client.request(method, path, body, headers=headers)


def probe(port: int, path: str, timeout: float = 2.0) -> Answer | None:
    """GET `path`, or None while nothing answers on the port."""
    try:
        return fetch(port, "GET", path, timeout=timeout)
    except NOT_ANSWERING:
        return None

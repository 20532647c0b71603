"""Driving the ASGI app directly, for what an HTTP client will not send: a body in several chunks, raw header bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.types import ASGIApp, Message


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: ASGIApp, method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = (), chunks: Sequence[bytes] = ()
) -> RawAnswer:
    """One HTTP request through `app`, the body sent as `chunks` (more_body set on all but the last)."""
    pending = list(chunks) or [b""]
    sent: list[Message] = []
    read = 0

    async def receive() -> Message:
        nonlocal read
        if read < len(pending):
            read += 1
            return {"type": "http.request", "body": pending[read - 1], "more_body": read < len(pending)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    response_headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in start["headers"]}
    return RawAnswer(start["status"], response_headers, body, read)

"""Pure ASGI middleware: request id, HEAD, body limits (size and stall), timeout, last-resort 500, metrics,
one JSON access line.

The body is refused here and only here: when it is too large (413) or stalls (408), the app is told the
client went away, its own answer is dropped, and this middleware answers with the problem.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.dataplane import Served, served
from service.errors import ChurnError, ContentTooLarge, InternalError, ProcessingTimedOut, RequestTimeout, clip
from service.metrics import ServiceMetrics
from service.problems import problem_response

access_log = logging.getLogger("churnguard.access")
error_log = logging.getLogger("churnguard.error")
REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_for(headers: Headers) -> str:
    # Honour a caller's id so a request can be traced across systems, but only a harmless one.
    # fullmatch, not `^...$`: `$` also matches before a trailing newline, which would be echoed into headers.
    incoming = headers.get(REQUEST_ID_HEADER, "")
    return incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class _Exchange:
    """One request's state: its id, what it sent, what was answered, and a refusal of its body if any."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int, client_timeout: float) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        # HEAD is GET without the body (RFC 9110): the app sees GET; the server, holding its own scope, drops the body.
        self.inner: Scope = {**scope, "method": "GET"} if self.method == "HEAD" else scope
        self.headers = Headers(scope=scope)
        self.request_id = request_id_for(self.headers)
        self.inner.setdefault("state", {})["request_id"] = self.request_id
        self._receive, self._send = receive, send
        self.limit, self.client_timeout = limit, client_timeout
        self.status = 500
        self.started = False
        self.refused: ChurnError | None = None
        self.waiting_for_body = self.body_done = False
        self.received = 0

    async def send(self, message: Message) -> None:
        if self.refused is not None and not self.started:
            return  # the app's answer to a body we refused: ours goes out instead
        if message["type"] == "http.response.start":
            self.status, self.started = message["status"], True
            message.setdefault("headers", []).append((b"x-request-id", self.request_id.encode()))
        await self._send(message)

    async def receive(self) -> Message:
        if self.refused is not None:
            return {"type": "http.disconnect"}
        if self.body_done:
            return await self._receive()  # after the body only a disconnect can come: no client deadline
        self.waiting_for_body = True
        try:
            async with asyncio.timeout(self.client_timeout):
                message = await self._receive()
        except TimeoutError:
            self.refused = RequestTimeout(f"the body stopped arriving: nothing for {self.client_timeout:g} s")
            return {"type": "http.disconnect"}
        self.waiting_for_body = False  # not in `finally`: a request timeout while waiting is still the client's stall
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.body_done = not message.get("more_body", False)
            if self.received > self.limit:
                self.refused = self.too_large()
                return {"type": "http.disconnect"}
        return message

    def too_large(self) -> ContentTooLarge:
        return ContentTooLarge(f"request body exceeds the limit of {self.limit} bytes")

    def announced_too_large(self) -> bool:
        declared = self.headers.get("content-length")
        return declared is not None and declared.isdigit() and int(declared) > self.limit

    async def answer(self, error: ChurnError) -> None:
        self.refused = None
        await problem_response(error, self.path, self.request_id)(self.inner, self._receive, self.send)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        timeout_seconds: float,
        client_timeout_seconds: float,
        metrics: ServiceMetrics,
        *,
        path_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = path_limits or {}  # uploads (the weekly export) get their own, larger limit
        self.timeout_seconds = timeout_seconds
        self.client_timeout_seconds = client_timeout_seconds
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        exchange = _Exchange(
            scope, receive, send, self.path_limits.get(scope["path"], self.max_body_bytes), self.client_timeout_seconds
        )
        note = Served()
        token = served.set(note)
        try:
            await self._run(exchange)
        finally:
            served.reset(token)
            elapsed = time.perf_counter() - started_at
            route = exchange.inner.get("route")
            # The route template, never the raw path: unknown paths must not create unbounded label values.
            self.metrics.observe_request(getattr(route, "path", None), exchange.method, exchange.status, elapsed)
            access_log.info(
                "request",
                extra={
                    "request_id": exchange.request_id,
                    "method": clip(exchange.method, 16),
                    "path": clip(exchange.path),
                    "status": exchange.status,
                    "latency_ms": round(elapsed * 1000, 3),
                    "model_version": note.model_version,
                },
            )

    async def _run(self, exchange: _Exchange) -> None:
        where = {"request_id": exchange.request_id, "path": clip(exchange.path)}
        try:
            if exchange.announced_too_large():
                await exchange.answer(exchange.too_large())  # before reading a byte of an announced oversize body
                return
            async with asyncio.timeout(self.timeout_seconds):
                await self.app(exchange.inner, exchange.receive, exchange.send)
        except TimeoutError:
            if exchange.waiting_for_body:  # still sending its body when time ran out: the client's fault
                exchange.refused = RequestTimeout(f"the body did not arrive within {self.timeout_seconds:g} s")
            else:
                error_log.warning("request timed out", extra=where)
                if exchange.started:
                    raise
                await exchange.answer(ProcessingTimedOut(self.timeout_seconds))
        except Exception:
            if exchange.refused is None:
                error_log.exception("unhandled error", extra=where)
                if exchange.started:
                    raise  # too late for a clean answer; the server closes the connection
                await exchange.answer(InternalError())
        if exchange.refused is not None and not exchange.started:
            if isinstance(exchange.refused, RequestTimeout):
                # The client stalled: a client error, logged as one, never a server error.
                access_log.warning("client stalled", extra=where)
            await exchange.answer(exchange.refused)

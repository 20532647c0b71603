"""Pure ASGI middleware: request id, body-size limit, timeout, last-resort 500, metrics, one JSON access line."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InternalError, PayloadTooLarge, RequestTimedOut
from service.metrics import ServiceMetrics
from service.problems import BodyTooLarge, problem_response

access_log = logging.getLogger("churnguard.access")
error_log = logging.getLogger("churnguard.error")
REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_for(headers: Headers) -> str:
    # Honour a caller's id so a request can be traced across systems, but only a harmless one.
    # fullmatch, not `^...$`: `$` also matches before a trailing newline, which would be echoed into headers.
    incoming = headers.get(REQUEST_ID_HEADER, "")
    return incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, timeout_seconds: float, metrics: ServiceMetrics,
        path_limits: dict[str, int] | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = path_limits or {}  # uploads (the weekly export) get their own, larger limit
        self.timeout_seconds = timeout_seconds
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        headers = Headers(scope=scope)
        request_id = request_id_for(headers)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        response_started = False
        received = 0
        limit = self.path_limits.get(scope["path"], self.max_body_bytes)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                # Refuse before reading a byte of an announced oversize body.
                await problem_response(PayloadTooLarge(limit), scope["path"], request_id)(scope, receive, send_with_id)
            else:
                async with asyncio.timeout(self.timeout_seconds):
                    await self.app(scope, receive_limited, send_with_id)
        except TimeoutError:
            error_log.warning("request timed out", extra={"request_id": request_id, "path": scope["path"]})
            if response_started:
                raise
            await problem_response(RequestTimedOut(self.timeout_seconds), scope["path"], request_id)(
                scope, receive, send_with_id
            )
        except Exception:
            error_log.exception("unhandled error", extra={"request_id": request_id, "path": scope["path"]})
            if response_started:
                raise  # too late for a clean answer; the server closes the connection
            await problem_response(InternalError(), scope["path"], request_id)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started_at
            route = scope.get("route")
            # The route template, never the raw path: unknown paths must not create unbounded label values.
            self.metrics.observe_request(getattr(route, "path", "unmatched"), scope["method"], status, elapsed)
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 3),
                    "model_version": state.get("model_version"),
                },
            )

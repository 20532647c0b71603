"""The server layer: uvicorn's h11 protocol with what it lacks for hostile and broken clients.

- A header-read timeout (`CHURN_CLIENT_TIMEOUT_SECONDS`): a connection gets that long from its first
  byte (or from being opened) to complete its request line and headers. An idle connection is closed;
  one stopped mid-headers gets 408. Keep-alive between requests stays uvicorn's (`timeout_keep_alive`).
- Framing errors answered as problem+json, not uvicorn's 400 `text/plain`: malformed requests 400, a
  request line over `MAX_HEAD_BYTES` 414, headers over it 431, and Content-Length together with
  Transfer-Encoding (RFC 9112 §6.3) 400. The connection is then closed after a lingering read, so the
  client sees the answer instead of a reset.

These answers come from below the app: no route, no key check, no metrics; each is logged once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.errors import ChurnError, HeadersTooLarge, MalformedRequest, RequestTimeout, UriTooLong, clip
from service.problems import PROBLEM_MEDIA_TYPE, problem_bytes

log = logging.getLogger("churnguard.server")
MAX_HEAD_BYTES = 16 * 1024  # request line + headers; h11's own default, stated here so it is documented
LINGER_SECONDS = 2.0  # after an error answer: read and drop what the client still sends, then close


class _CheckedConnection(h11.Connection):
    """h11, remembering the protocol error it raised, and refusing ambiguous framing."""

    refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        if isinstance(event, h11.Request):
            names = {name.lower() for name, _ in event.headers}
            if b"content-length" in names and b"transfer-encoding" in names:
                self.refusal = h11.RemoteProtocolError(
                    "both Content-Length and Transfer-Encoding are set: the framing is ambiguous", 400
                )
                raise self.refusal
        return event


class GuardedH11Protocol(H11Protocol):
    client_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checked = _CheckedConnection(h11.SERVER, MAX_HEAD_BYTES)
        self.conn = self.checked
        self._header_timer: asyncio.TimerHandle | None = None
        self._refusing = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refusing:
            return  # lingering: drop what the client still sends
        if self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of a new request: its headers have `client_timeout` to arrive
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.client_timeout, self._headers_timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self._refusing or self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # still answering the previous request; its keep-alive timer takes over afterwards
        if self.conn.trailing_data[0]:
            self._refuse(RequestTimeout(f"the request headers did not arrive within {self.client_timeout:g} s"))
        else:
            self.transport.close()  # nothing sent at all: nothing to answer

    def send_400_response(self, msg: str) -> None:
        refusal = self.checked.refusal
        status = refusal.error_status_hint if refusal is not None else 400
        error: ChurnError
        if status == 431 and b"\n" not in self.conn.trailing_data[0]:
            error = UriTooLong(f"the request line is longer than {MAX_HEAD_BYTES} bytes")
        elif status == 431:
            error = HeadersTooLarge(f"the request line and headers are longer than {MAX_HEAD_BYTES} bytes")
        else:
            error = MalformedRequest(f"not a valid HTTP/1.1 request: {clip(str(refusal or msg))}")
        self._refuse(error)

    def _refuse(self, error: ChurnError) -> None:
        """Answer `error` as problem+json on the raw transport, then close after a lingering read."""
        self._disarm()
        self._refusing = True
        request_id = uuid.uuid4().hex
        under_way = self.cycle is not None and not self.cycle.response_complete
        body = problem_bytes(error, self.scope["path"] if under_way else "", request_id)
        head = (
            f"HTTP/1.1 {error.status_code} {HTTPStatus(error.status_code).phrase}\r\n"
            f"content-type: {PROBLEM_MEDIA_TYPE}\r\ncontent-length: {len(body)}\r\n"
            f"x-request-id: {request_id}\r\nconnection: close\r\n\r\n"
        )
        if under_way:
            # A request was under way (a bad chunk mid-body): the app sees a disconnect and its answer is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            if self.cycle.response_started:
                self.transport.close()
                return
        log.warning(
            "request refused by the server layer",
            extra={"request_id": request_id, "status": error.status_code, "detail": error.detail},
        )
        self.transport.write(head.encode("latin-1") + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.transport.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def eof_received(self) -> None:
        if self._refusing:
            self.transport.close()  # the client has sent everything and read our answer


def protocol_for(client_timeout: float) -> type[GuardedH11Protocol]:
    """The protocol class for uvicorn's `http=`, with the settings' header-read timeout."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"client_timeout": client_timeout})

"""The load generator: raw HTTP/1.1 keep-alive clients on asyncio, one connection each, every reply timed and
handed to a callback; and a process's resident memory read from /proc."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from testkit.net import HOST

REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Reply:
    worker: int
    item: int  # which request (e.g. which customer) was sent
    sent: float  # time.monotonic()
    received: float
    status: int  # 0: no HTTP answer at all (connection error or timeout); `body` then holds the error
    body: bytes


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    lengths = [int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")]
    if len(lengths) != 1:
        raise ValueError(f"expected one Content-Length in {head!r}")
    return status, await reader.readexactly(lengths[0])


async def _worker(
    port: int,
    worker: int,
    requests: list[bytes],
    keep_going: Callable[[], bool],
    on_reply: Callable[[Reply], None],
    *,
    turn: tuple[asyncio.Event, asyncio.Event] | None = None,
) -> None:
    """Send `requests` round robin on one keep-alive connection while `keep_going()`; reconnect after an error.
    `turn`: wait for the first event before connecting, set the second after the first reply."""
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    count = 0
    try:
        if turn is not None:
            await turn[0].wait()
        while keep_going():
            item = (worker + count * 7) % len(requests)  # each worker walks the items in its own order
            count += 1
            sent = time.monotonic()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    if connection is None:
                        connection = await asyncio.open_connection(HOST, port)
                    status, body = await _exchange(*connection, requests[item])
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                status, body = 0, repr(exc).encode()
                if connection is not None:
                    connection[1].close()
                    connection = None
            on_reply(Reply(worker, item, sent, time.monotonic(), status, body))
            if turn is not None:
                turn[1].set()
    finally:
        if turn is not None:
            turn[1].set()  # the next connection never waits for one that has stopped
        if connection is not None:
            connection[1].close()
            await connection[1].wait_closed()


async def run_load(
    port: int,
    concurrency: int,
    requests: list[bytes],
    keep_going: Callable[[], bool],
    on_reply: Callable[[Reply], None],
    *,
    stagger: bool = False,
) -> None:
    """`concurrency` connections sending `requests` until `keep_going()` turns false; every reply to `on_reply`.
    `stagger`: each connection opens once the one before has had its first answer, as clients arriving one by one
    do. (A burst of simultaneous connects is taken by whichever worker's accept loop wakes first, when the
    service runs several: measured, all 32 on one of 2 workers.)"""
    if not stagger:
        await asyncio.gather(*(_worker(port, w, requests, keep_going, on_reply) for w in range(concurrency)))
        return
    events = [asyncio.Event() for _ in range(concurrency + 1)]
    events[0].set()
    await asyncio.gather(
        *(_worker(port, w, requests, keep_going, on_reply, turn=(events[w], events[w + 1])) for w in range(concurrency))
    )


def budget(total: int) -> Callable[[], bool]:
    """A `keep_going` for exactly `total` requests, shared by all the workers."""
    remaining = iter(range(total))
    return lambda: next(remaining, None) is not None


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (VmRSS in /proc/PID/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise LookupError(f"no VmRSS for process {pid}")

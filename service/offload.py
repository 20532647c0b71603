"""Large bodies are parsed and validated in a worker process, not a thread.

`json.loads` and pydantic hold the GIL for the whole of one call, and a thread does not change that: one
row of 200,000 unknown keys held the event loop for 280 ms from a worker thread (measured with
tests/service/test_hostile_clients.py). A process has its own GIL; only the bounded verdict comes back (at most
CHURN_MAX_BATCH rows of known fields, or at most 1,000 problems).

The body crosses in shared memory, not the pipe: one region of CHURN_MAX_BODY_BYTES, made at start, that
the worker reads in place. 5 MiB took 14 ms through the pool's pipe (pickled, written in 64 KiB pieces,
read back) and 0.7 ms as a copy into the region. The worker takes one body at a time, so one region does:
a body is written only once the worker has finished with the one before (`_region_free`). The region is
reserved at start (8 MiB of /dev/shm per service worker by default): a /dev/shm too small for it fails the
start with an OSError, where a page first touched by a request would kill the process with SIGBUS.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

from service.errors import ChurnError, ContentTooLarge, FieldError, InvalidInput, MalformedRequest
from service.profile import load_profile
from service.schemas import build_customer_model
from service.validation import Batch, Validator

_validator: Validator | None = None
_region: SharedMemory | None = None
_ERRORS: dict[str, type[ChurnError]] = {"MalformedRequest": MalformedRequest, "ContentTooLarge": ContentTooLarge}
Verdict = tuple[str, Any]
SHM_ROOT = Path("/dev/shm")  # noqa: S108 - where Linux keeps POSIX shared memory, not a temporary file


def _start(profile_path: Path, max_batch: int, region: str) -> None:
    global _validator, _region  # noqa: PLW0603 - one validator and one region per worker process, set up once
    profile, _ = load_profile(profile_path)
    _validator = Validator(profile, build_customer_model(profile), max_batch)
    _region = SharedMemory(region)


def _validate(batch: bool, size: int) -> Verdict:
    """The body is the region's first `size` bytes."""
    # Exceptions with their own constructors do not survive pickling: the verdict travels as plain values.
    region = _region.buf if _region is not None else None
    if _validator is None or region is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("the offload worker was started without its validator")
    try:
        with region[:size] as body:  # read in place; released before the next body is written
            rows: Any = _validator.batch(body) if batch else _validator.customer_rows(bytes(body))
    except InvalidInput as exc:
        return "invalid", ([entry.model_dump(exclude_none=True) for entry in exc.errors], len(exc.errors) + exc.omitted)
    except (MalformedRequest, ContentTooLarge) as exc:
        return type(exc).__name__, exc.detail
    return "rows", rows


def _reserve(region: SharedMemory) -> None:
    """Allocate the region's pages now (Linux, where POSIX shared memory is a file in /dev/shm)."""
    path = SHM_ROOT / region.name.lstrip("/")
    if hasattr(os, "posix_fallocate") and path.exists():
        descriptor = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(descriptor, 0, region.size)
        finally:
            os.close(descriptor)


class Offload:
    """One worker process, started with the app and stopped with it."""

    def __init__(self, profile_path: Path, max_batch: int, max_body_bytes: int) -> None:
        self.profile_path = profile_path
        self.max_batch = max_batch
        self.max_body_bytes = max_body_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._region: SharedMemory | None = None
        self._region_free = asyncio.Lock()

    def start(self) -> None:
        """Ready to offload; the process is spawned on the first large body (its imports take about a second)."""
        self._region = SharedMemory(create=True, size=self.max_body_bytes)
        try:
            _reserve(self._region)
        except OSError:
            self._region.close()
            self._region.unlink()
            raise
        self._region_free = asyncio.Lock()  # a new one per start: a lock that ever waited is bound to its loop
        # spawn, not fork: forking a process that runs threads can copy a held lock into the child.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self.profile_path, self.max_batch, self._region.name),
        )

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._region is not None:
            self._region.close()
            self._region.unlink()  # a worker still reading keeps its mapping until it exits
            self._region = None

    async def customer(self, body: bytes) -> list[dict[str, Any]]:
        """`Validator.customer_rows` in the worker: the same answer, or the same error."""
        rows: list[dict[str, Any]] = await self._verdict(False, body)
        return rows

    async def batch(self, body: bytes) -> Batch:
        """`Validator.batch` in the worker: the same columns (numpy arrays pickle compactly), or the same error."""
        batch: Batch = await self._verdict(True, body)
        return batch

    async def _verdict(self, batch: bool, body: bytes) -> Any:
        if self._pool is None:
            self.start()  # used outside the app's lifespan
        pool, region = self._pool, self._region.buf if self._region is not None else None
        if pool is None or region is None:  # pragma: no cover - start() sets them
            raise RuntimeError("no offload pool")
        if len(body) > len(region):  # the middleware refuses these first; here for use outside the app
            raise ContentTooLarge(f"request body exceeds the limit of {len(region)} bytes")
        await self._region_free.acquire()
        try:
            region[: len(body)] = body
            future = pool.submit(_validate, batch, len(body))
        except BaseException:
            self._region_free.release()
            raise
        # Freed when the worker is done with the body, not when this request is: a request that timed out
        # must not let the next body be written under the worker still reading it.
        future.add_done_callback(self._release_on(asyncio.get_running_loop()))
        kind, value = await asyncio.wrap_future(future)
        if kind == "rows":
            return value
        if kind == "invalid":
            entries, total = value
            raise InvalidInput([FieldError(**entry) for entry in entries], total)
        raise _ERRORS[kind](value)

    def _release_on(self, loop: asyncio.AbstractEventLoop) -> Callable[[Future[Verdict]], None]:
        lock = self._region_free

        def release(_: Future[Verdict]) -> None:  # runs in the pool's thread: the lock belongs to the loop
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown): nobody waits
                loop.call_soon_threadsafe(lock.release)

        return release

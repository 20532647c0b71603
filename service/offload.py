"""Large bodies are parsed and validated in a worker process, not a thread.

`json.loads` and pydantic hold the GIL for the whole of one call, and a thread does not change that: one
row of 200,000 unknown keys held the event loop for 280 ms from a worker thread (measured with
tests/service/test_hostile_clients.py). A process has its own GIL; only the bounded verdict comes back (at most
CHURN_MAX_BATCH rows of known fields, or at most 1,000 problems).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from service.errors import ChurnError, ContentTooLarge, FieldError, InvalidInput, MalformedRequest
from service.profile import load_profile
from service.schemas import build_customer_model
from service.validation import Batch, Validator

_validator: Validator | None = None
_ERRORS: dict[str, type[ChurnError]] = {"MalformedRequest": MalformedRequest, "ContentTooLarge": ContentTooLarge}
Verdict = tuple[str, Any]


def _start(profile_path: Path, max_batch: int) -> None:
    global _validator  # noqa: PLW0603 - one validator per worker process, built once
    profile, _ = load_profile(profile_path)
    _validator = Validator(profile, build_customer_model(profile), max_batch)


def _validate(batch: bool, body: bytes) -> Verdict:
    # Exceptions with their own constructors do not survive pickling: the verdict travels as plain values.
    if _validator is None:  # pragma: no cover - the initializer always runs first in the worker
        raise RuntimeError("the offload worker was started without its validator")
    try:
        rows: Any = _validator.batch(body) if batch else _validator.customer_rows(body)
    except InvalidInput as exc:
        return "invalid", ([entry.model_dump(exclude_none=True) for entry in exc.errors], len(exc.errors) + exc.omitted)
    except (MalformedRequest, ContentTooLarge) as exc:
        return type(exc).__name__, exc.detail
    return "rows", rows


class Offload:
    """One worker process, started with the app and stopped with it."""

    def __init__(self, profile_path: Path, max_batch: int) -> None:
        self.profile_path = profile_path
        self.max_batch = max_batch
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Ready to offload; the process is spawned on the first large body (its imports take about a second)."""
        # spawn, not fork: forking a process that runs threads can copy a held lock into the child.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self.profile_path, self.max_batch),
        )

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

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
        pool = self._pool
        if pool is None:  # pragma: no cover - start() sets it
            raise RuntimeError("no offload pool")
        kind, value = await asyncio.wrap_future(pool.submit(_validate, batch, body))
        if kind == "rows":
            return value
        if kind == "invalid":
            entries, total = value
            raise InvalidInput([FieldError(**entry) for entry in entries], total)
        raise _ERRORS[kind](value)

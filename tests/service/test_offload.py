"""The offload worker reads each body from the one shared region: concurrent bodies never overwrite one
another there, and a request that gave up does not free the region while the worker still reads it."""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import Future
from typing import Any

from service.offload import SHM_ROOT, Offload
from service.validation import Batch
from testkit.customers import customer
from testkit.paths import PROFILE_PATH

ROWS = 300  # ~130 KiB a body: past the inline limit, and long enough to read that a race would show


def _body(tag: str) -> bytes:
    return json.dumps({"customers": [customer(customer_id=f"{tag}-{i}") for i in range(ROWS)]}).encode()


def test_concurrent_bodies_each_get_their_own_answer() -> None:
    async def run() -> list[Batch]:
        offload = Offload(PROFILE_PATH, 10_000, 1024 * 1024)
        offload.start()
        try:
            return await asyncio.gather(*(offload.batch(_body(f"b{n}")) for n in range(6)))
        finally:
            offload.stop()

    for n, batch in enumerate(asyncio.run(run())):
        assert batch.ids == [f"b{n}-{i}" for i in range(ROWS)]


def test_a_body_stays_in_the_region_until_the_worker_is_done_even_if_its_request_gave_up() -> None:
    # One bad row among 5,000 sends the body through the request model: the worker reads it for a while.
    slow = json.dumps({"customers": [customer(tenure=-1)] + [customer()] * 5_000}).encode()

    async def run() -> tuple[bool, Batch]:
        offload = Offload(PROFILE_PATH, 10_000, 4 * 1024 * 1024)
        offload.start()
        try:
            await offload.batch(_body("warm"))  # the worker is up
            pool = offload._pool
            assert pool is not None
            submitted: list[Future[Any]] = []
            submit = pool.submit

            def recorded(*args: Any) -> Future[Any]:
                submitted.append(submit(*args))
                return submitted[-1]

            pool.submit = recorded  # type: ignore[method-assign, assignment]
            gave_up = asyncio.create_task(offload.batch(slow))
            # Until the worker has taken the body, cancelling withdraws it and frees the region at once.
            deadline = time.monotonic() + 30
            while not (submitted and submitted[0].running()) and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            gave_up.cancel()
            following = asyncio.create_task(offload.batch(_body("next")))
            for _ in range(5):
                await asyncio.sleep(0)  # room for the next request to write, were the region free
            region = offload._region
            buffer = region.buf if region is not None else None
            kept = buffer is not None and bytes(buffer[: len(slow)]) == slow and not submitted[0].done()
            return kept, await following
        finally:
            offload.stop()

    kept, following = asyncio.run(run())
    assert kept, "the next body was written while the worker was still reading the one before"
    assert following.ids == [f"next-{i}" for i in range(ROWS)]


def test_the_region_is_reserved_at_start_not_at_the_first_body() -> None:
    # A /dev/shm too small must fail the start, not kill the process with SIGBUS when a request writes.
    offload = Offload(PROFILE_PATH, 10_000, 4 * 1024 * 1024)
    offload.start()
    try:
        region = offload._region
        assert region is not None
        allocated = os.stat(SHM_ROOT / region.name.lstrip("/")).st_blocks * 512
        assert allocated >= 4 * 1024 * 1024
    finally:
        offload.stop()

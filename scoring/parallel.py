"""Work on a few threads with results in input order: the weekly list's chunks and its CSV blocks.

pyarrow and numpy release the GIL in their kernels, so two threads keep both cores busy; at most `ahead`
items are in flight, so memory stays bounded whatever the input's size.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

WORKERS = min(2, os.cpu_count() or 1)  # measured on 2 cores (README, "The weekly list")
T = TypeVar("T")
R = TypeVar("R")


def in_order(pool: Executor, work: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[tuple[T, R]]:
    """(item, work(item)) in the items' order, at most `ahead` in flight: memory stays bounded."""
    pending: deque[tuple[T, Future[R]]] = deque()
    for item in items:
        pending.append((item, pool.submit(work, item)))
        if len(pending) >= ahead:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()

"""prometheus_client's multiprocess files for several workers (service.workers): a fresh directory per start,
scrapes under a shared lock, and a dead worker's files folded into an archive under an exclusive one."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it when it is first imported
LOCK_FILE = "scrape.lock"
ARCHIVE = "archive"  # `counter_archive.db`: the counts of workers that have died
FOLDED_TYPES = ("counter", "histogram")  # summed at scrape time, so a dead worker's values can be added up


def fresh_metrics_dir() -> Path:
    """A new, empty multiprocess directory, exported for the workers about to be spawned."""
    directory = Path(tempfile.mkdtemp(prefix="churnguard-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


@contextmanager
def locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    with (directory / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mmap(path: Path, *, read_mode: bool = False) -> Any:
    """prometheus_client's own file format (its MmapedDict is untyped)."""
    return MmapedDict(str(path), read_mode=read_mode)  # type: ignore[no-untyped-call]


def retire(directory: Path, pid: int) -> None:
    """Fold dead worker `pid`'s counter and histogram values into the archive files, delete its files, and drop
    its live gauges. Only the parent calls this, after the worker has been reaped: nobody writes its files."""
    with locked(directory, exclusive=True):
        for kind in FOLDED_TYPES:
            dead = directory / f"{kind}_{pid}.db"
            if not dead.exists():
                continue
            source = _mmap(dead, read_mode=True)
            try:
                counted = list(source.read_all_values())
            finally:
                source.close()
            archive = _mmap(directory / f"{kind}_{ARCHIVE}.db")
            try:
                for key, value, timestamp in counted:
                    archived, _ = archive.read_value(key)
                    archive.write_value(key, archived + value, timestamp)
            finally:
                archive.close()
            dead.unlink()
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def remove_metrics_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)

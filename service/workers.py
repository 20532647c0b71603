"""Several uvicorn workers on one port (`CHURN_WORKERS` > 1), whose metrics add up to one service.

- The parent binds the port once and supervises the workers with uvicorn's own supervisor, which replaces a
  worker that dies (SIGKILL, OOM kill) or stops answering its health pings.
- Metrics use prometheus_client's multiprocess mode: every worker's counters and histograms live in mmap files
  in one directory, and a scrape, whichever worker answers it, adds them all up (`service.metrics`). The
  directory is fresh on every start (a temporary directory, removed at exit), so no count from an earlier run
  is ever added in.
- A dead worker's files are folded into one archive file per metric type and deleted, then
  `mark_process_dead` drops its live gauges: the directory does not grow with every replaced worker, and no
  total goes down when a worker dies. Scrapes read under a shared lock, the fold holds it exclusively, so no
  scrape sees a dead worker's counts twice or not at all.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from fastapi import FastAPI
from pydantic import ValidationError
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from service.app import create_app
from service.auth import KeyFileError
from service.logs import configure_logging
from service.metrics_files import MULTIPROC_ENV, retire
from service.profile import ProfileError
from service.server import GuardedH11Protocol
from service.settings import Settings


class Supervisor(Multiprocess):
    """uvicorn's supervisor, retiring the metrics of every worker it replaces, and remembering whether it stopped
    because a worker could not start (uvicorn then stops rather than restart it forever)."""

    metrics_dir: Path
    failed_start = False

    def _retire_replaced(self, before: set[int | None]) -> None:
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                retire(self.metrics_dir, pid)

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        if self.should_exit.is_set() and any(process.exitcode == STARTUP_FAILURE for process in self.processes):
            self.failed_start = True
        self._retire_replaced(before)

    def restart_all(self) -> None:
        before = {process.pid for process in self.processes}
        super().restart_all()
        self._retire_replaced(before)


class WorkerProtocol(GuardedH11Protocol):
    """The server layer in a worker: its header-read timeout is set from the settings by `worker_app`."""


def worker_app() -> FastAPI:
    """The app factory every worker runs (`service.workers:worker_app`): settings from the same environment
    the parent validated, and metrics from the shared multiprocess directory."""
    try:
        settings = Settings()
        configure_logging(settings.log_level)
        WorkerProtocol.client_timeout = settings.client_timeout_seconds
        return create_app(settings, metrics_dir=Path(os.environ[MULTIPROC_ENV]))
    except (ValidationError, ProfileError, KeyFileError) as exc:
        # The parent refused these before spawning any worker, so the host changed under it (a profile or keys
        # file gone). STARTUP_FAILURE, not a crash: uvicorn's supervisor then stops instead of restarting the
        # worker in a loop, and the parent exits non-zero.
        logging.getLogger("churnguard").critical("worker refusing to start: %s", exc)
        sys.exit(STARTUP_FAILURE)

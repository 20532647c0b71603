"""`python -m service`: serve on the settings' host and port."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import uvicorn
from pydantic import ValidationError
from uvicorn.config import STARTUP_FAILURE

from service.app import create_app
from service.auth import KeyFileError
from service.logs import configure_logging
from service.metrics_files import fresh_metrics_dir, remove_metrics_dir
from service.profile import ProfileError
from service.server import protocol_for
from service.settings import Settings
from service.workers import Supervisor

EXIT_CONFIG = 2


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn drains in-flight requests, then re-raises the signal it caught; ending here makes a
    # completed graceful shutdown exit 0. os._exit, not SystemExit: a batch thread abandoned after the
    # grace period must not keep the process alive.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        # One readable line per problem for `kubectl logs`, not a traceback.
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"churnguard: refusing to start: {where}: {error['msg']}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except (ProfileError, KeyFileError) as exc:
        logging.getLogger("churnguard").critical("refusing to start: %s", exc)
        raise SystemExit(EXIT_CONFIG) from None
    if settings.workers > 1:
        _serve_workers(settings)
        return
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        http=protocol_for(settings.client_timeout_seconds),  # header-read timeout, problem+json framing errors
    )


def _serve_workers(settings: Settings) -> None:
    """`settings.workers` uvicorn workers on one port; the app above was built only to refuse a bad start here."""
    directory = fresh_metrics_dir()
    config = uvicorn.Config(
        "service.workers:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        http="service.workers:WorkerProtocol",
    )
    # On SIGTERM the supervisor stops every worker (each drains its requests in flight) and returns: exit 0.
    supervisor = Supervisor(config, sockets=[config.bind_socket()])
    supervisor.metrics_dir = directory
    logging.getLogger("churnguard").info(
        "starting workers", extra={"workers": settings.workers, "metrics_dir": str(directory)}
    )
    try:
        supervisor.run()
    finally:
        remove_metrics_dir(directory)
    if supervisor.failed_start:
        raise SystemExit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()

"""`python -m service` as a managed process, the only place the harness starts it: settings given by their
Settings field name (`launch(model_dir=..., api_keys="k")` sets CHURN_MODEL_DIR, CHURN_API_KEYS), nothing
inherited from the caller's CHURN_* variables, loopback and a free port by default, up when /health/live
(`ready="live"`) or /health/ready (`ready="ready"`) answers 200."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from service.settings import Settings
from testkit.client import probe
from testkit.net import HOST, free_port
from testkit.paths import MODEL_DIR, PROFILE_PATH, ROOT
from testkit.process import Managed, clean_env, running, start

SERVICE_COMMAND = (sys.executable, "-m", "service")
STARTUP_SECONDS = 30.0
Ready = Literal["live", "ready"]
UP_PATHS: dict[Ready, str] = {"live": "/health/live", "ready": "/health/ready"}


@dataclass
class Service(Managed):
    port: int


def settings_env(**settings: object) -> dict[str, str]:
    """CHURN_* variables for Settings fields given by name; a name that is not a field is an error, not ignored."""
    unknown = sorted(set(settings) - set(Settings.model_fields))
    if unknown:
        raise TypeError(f"not Settings fields: {', '.join(unknown)}")
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name.upper()}": _env_value(value) for name, value in settings.items()}


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))  # the keys' comma-separated form
    return str(value)


def start_service(
    log_dir: Path, *, port: int | None = None, command: Sequence[str] = SERVICE_COMMAND, **settings: object
) -> Service:
    """Start `command` (the service by default) with `settings` over the harness defaults; not waited for."""
    port = port or free_port()
    values = {"host": HOST, "port": port, "model_dir": MODEL_DIR, "data_profile": PROFILE_PATH, **settings}
    # ROOT on the path: a `command` that is a script (a planted fault in a sabotage test) still imports `service`.
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = clean_env({"PYTHONPATH": python_path, **settings_env(**values)})
    managed = start("the service", command, log_path=log_dir / f"service-{port}.log", env=env)
    return Service(managed.name, managed.process, managed.log_path, port)


@contextlib.contextmanager
def serving(service: Service, *, ready: Ready = "ready", startup_timeout: float = STARTUP_SECONDS) -> Iterator[Service]:
    """`service` (from `start_service`), once up, for the block (DidNotStart, with its log, otherwise); always
    stopped afterwards. Several services can be started first and then waited for, so they start side by side."""
    path = UP_PATHS[ready]

    def up() -> bool:
        answer = probe(service.port, path)
        return answer is not None and answer.status == 200

    with running(service, up, startup_timeout, f"200 on {path} at {HOST}:{service.port}") as started:
        yield started


@contextlib.contextmanager
def launch(
    log_dir: Path | None = None,
    *,
    ready: Ready = "ready",
    port: int | None = None,
    command: Sequence[str] = SERVICE_COMMAND,
    startup_timeout: float = STARTUP_SECONDS,
    **settings: object,
) -> Iterator[Service]:
    """The service, up, for the block (DidNotStart, with its log, otherwise); always stopped afterwards. Without
    `log_dir` the log lives in a temporary directory for as long as the block."""
    with contextlib.ExitStack() as stack:
        if log_dir is None:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="churnguard-service-")))
        service = start_service(log_dir, port=port, command=command, **settings)
        with serving(service, ready=ready, startup_timeout=startup_timeout) as started:
            yield started

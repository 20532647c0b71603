"""Real processes for the operations tests: `python -m service` on a free loopback port, and the helpers to
poll it. Every process runs in its own session (process group) and is always stopped, even on failure."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.utils.profile import PROFILE_PATH, ROOT
from verification.server import free_port

HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0
POLL_SECONDS = 0.05
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = POLL_SECONDS) -> T:
    """Poll `check` until it returns something truthy, and return that; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)  # polling another process: there is no event to wait on


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
    content: bytes | None = None,
) -> Answer:
    """One HTTP/1.1 request on a fresh connection (`body` sent as JSON when given, or `content` as it is)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        sent_headers = dict(headers or {})
        payload = content
        if body is not None:
            payload = json.dumps(body).encode()
            sent_headers.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=payload, headers=sent_headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def answers(port: int, path: str) -> Answer | None:
    """GET `path`, or None while nothing listens on the port yet."""
    try:
        return fetch(port, "GET", path, timeout=2)
    except (ConnectionError, TimeoutError, http.client.HTTPException):
        return None


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> int:
    """SIGTERM the process group, then SIGKILL it if it has not exited within `timeout`; the exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    return process.returncode


def service_env(model_dir: Path, port: int, settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for `python -m service`: no inherited CHURN_* values, then loopback, port, model dir."""
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("CHURN_")},
        "CHURN_HOST": HOST,
        "CHURN_PORT": str(port),
        "CHURN_MODEL_DIR": str(model_dir),
        "CHURN_DATA_PROFILE": str(PROFILE_PATH),
        **{f"CHURN_{name.upper()}": value for name, value in (settings or {}).items()},
    }


@dataclass(frozen=True)
class Service:
    port: int
    process: subprocess.Popen[bytes]
    stderr: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


def start_service(env: Mapping[str, str], stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,  # its own process group: stop() can end it and anything it started
        )


@contextlib.contextmanager
def running_service(
    model_dir: Path,
    log_dir: Path,
    settings: Mapping[str, str] | None = None,
    *,
    ready: bool = True,
    port: int | None = None,
) -> Iterator[Service]:
    """`python -m service` with `settings` (field name -> value) on a free loopback port (or `port`), live (and
    ready, unless `ready=False`) or the test fails."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr = log_dir / f"service-{port}.log"
    process = start_service(service_env(model_dir, port, settings), stderr)
    service = Service(port, process, stderr)
    try:
        path = "/health/ready" if ready else "/health/live"

        def up() -> bool:
            assert process.poll() is None, f"the service exited with {process.returncode}:\n{service.log()}"
            answer = answers(port, path)
            return answer is not None and answer.status == 200

        wait_for(up, STARTUP_SECONDS, f"{path} to answer 200 on port {port}")
        yield service
    finally:
        stop(process)


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False

"""One managed process: started in its own session (process group) with a clean environment and its output in
a log file; waited for until it is up, with a deadline; stopped with SIGTERM, then SIGKILL, returning its exit
status. The service, Prometheus and mlflow-server launchers are thin layers over this."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from testkit.paths import ROOT

POLL_SECONDS = 0.05
STOP_SECONDS = 10.0
# Inherited settings must not reach a process the harness starts: a developer's exported CHURN_API_KEYS would
# turn every unauthenticated probe into a 401, and a proxy variable could route loopback traffic elsewhere.
STRIPPED_PREFIX = "CHURN_"
PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy"})

T = TypeVar("T")
M = TypeVar("M", bound="Managed")


class DidNotStart(RuntimeError):
    """The process exited, or was not up by its deadline; the message ends with its log's last lines."""


class TimedOut(AssertionError):
    """A condition did not hold within its deadline (an assertion failure in a test)."""


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The inherited environment without any CHURN_* or proxy variable, then `extra`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(STRIPPED_PREFIX) and name.lower() not in PROXY_VARIABLES
    }
    return {**inherited, **(extra or {})}


def forget_exported_settings() -> None:
    """Drop every CHURN_* variable from this process's environment (and so from its children's). The suite and
    the verification check the committed service on its embedded defaults: a shell's exported settings (tox
    passes CHURN_* on, for `tox -e serve`) would change every in-process app and command (API keys, limits, a
    challenger). A check that wants a setting sets it itself."""
    for name in [name for name in os.environ if name.startswith(STRIPPED_PREFIX)]:
        del os.environ[name]


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = POLL_SECONDS) -> T:
    """Poll `check` until it returns something truthy, and return that; TimedOut naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)  # the state lives in another process: there is no event to wait on


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path  # stdout and stderr

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM the process group, SIGKILL it if the process has not exited within `timeout`; the exit status
        (negative: killed by that signal). The signals go to the whole group: workers stop with their leader."""
        if self.process.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        return self.process.returncode

    def wait_up(self, up: Callable[[], bool], timeout: float, what: str, interval: float = POLL_SECONDS) -> None:
        """Return once `up()` holds; DidNotStart when the process exits first or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while not up():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DidNotStart(f"{self.name}: no {what} within {timeout:g} s; its log ends:\n{self.log_tail()}")
            try:  # the pause between polls ends at once if the process exits: that one is an event
                code = self.process.wait(timeout=min(interval, remaining))
            except subprocess.TimeoutExpired:
                continue
            raise DidNotStart(f"{self.name} exited with {code} before {what}; its log ends:\n{self.log_tail()}")


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def start(name: str, command: Sequence[str], *, log_path: Path, env: Mapping[str, str], cwd: Path = ROOT) -> Managed:
    """`command` in its own session, stdin closed, stdout and stderr to `log_path`; not waited for."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and anything it started
        )
    return Managed(name, process, log_path)


@contextlib.contextmanager
def running(
    managed: M, up: Callable[[], bool], timeout: float, what: str, interval: float = POLL_SECONDS
) -> Iterator[M]:
    """`managed`, once up, for the block; stopped afterwards whatever happens (a failed start included)."""
    try:
        managed.wait_up(up, timeout, what, interval)
        yield managed
    finally:
        managed.stop()

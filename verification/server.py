"""A real service process on 127.0.0.1: started on a free port, waited for with a bounded poll, always killed."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verification.paths import ROOT

HOST = "127.0.0.1"  # loopback only: a check never exposes a server
SERVICE_COMMAND = (sys.executable, "-m", "service")


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: Any  # parsed JSON, or the text when the body is not JSON
    at: float  # time.perf_counter() when the answer was read


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    answers: list[tuple[str, Answer]] = field(default_factory=list)  # every answer, to prove none was a 500

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> Answer:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {} if payload is None else {"Content-Type": "application/json"}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        answer = Answer(response.status, response.getheader("content-type") or "", parsed, time.perf_counter())
        self.answers.append((f"{method} {path}", answer))
        return answer

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class ServerDidNotStart(Exception):
    pass


@contextlib.contextmanager
def serve(
    model_dir: Path,
    workdir: Path,
    command: Sequence[str] = SERVICE_COMMAND,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 60.0,
) -> Iterator[Server]:
    """Run `command` (the service by default) until the block ends; the process is killed whatever happens."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "CHURN_HOST": HOST,
        "CHURN_PORT": str(port),
        "CHURN_MODEL_DIR": str(model_dir),
        "CHURN_DATA_PROFILE": str(ROOT / "data_profile.json"),
        "CHURN_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(list(command), cwd=ROOT, env=environment, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        _wait_until_live(server, startup_timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_live(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerDidNotStart(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            server.request("GET", "/health/live", timeout=1.0)
            return
        time.sleep(0.05)
    raise ServerDidNotStart(f"no answer on {HOST}:{server.port} within {timeout:.0f} s:\n{server.log_tail()}")

"""Start `python -m service` on a free loopback port for the benchmarks, and stop it afterwards."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from verification.server import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def running_service(env: dict[str, str] | None = None, timeout: float = 30.0) -> Iterator[int]:
    port = free_port()
    environment = {
        **os.environ,
        "CHURN_HOST": "127.0.0.1",
        "CHURN_PORT": str(port),
        **(env or {}),
    }
    # Logging stays on (the access line is part of every request's cost); it goes to /dev/null, not a terminal.
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=environment, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/health/ready")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("service did not become ready")
            time.sleep(0.05)  # polling a process we do not control: there is no event to await
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)

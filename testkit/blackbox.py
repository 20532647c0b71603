"""blackbox-exporter for the tests: the shipped monitoring/blackbox.yml as it is, on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testkit.client import probe
from testkit.net import HOST, free_port
from testkit.paths import BLACKBOX_CONFIG
from testkit.process import Managed, clean_env, running, start
from testkit.prometheus import tool

STARTUP_SECONDS = 30.0
INSTALL_HINT = "Debian's `prometheus-blackbox-exporter` package provides it (.ci/run installs it on CI)"


@dataclass
class Blackbox(Managed):
    port: int


@contextlib.contextmanager
def running_blackbox(work: Path) -> Iterator[Blackbox]:
    """blackbox-exporter with the shipped modules, up when /-/healthy answers 200; always stopped afterwards."""
    port = free_port()
    command = [
        tool("prometheus-blackbox-exporter", INSTALL_HINT),
        f"--config.file={BLACKBOX_CONFIG}",
        f"--web.listen-address={HOST}:{port}",
        "--log.level=warn",
    ]
    managed = start("blackbox-exporter", command, log_path=work / "blackbox.log", env=clean_env(), cwd=work)
    blackbox = Blackbox(managed.name, managed.process, managed.log_path, port)

    def healthy() -> bool:
        answer = probe(port, "/-/healthy")
        return answer is not None and answer.status == 200

    with running(blackbox, healthy, STARTUP_SECONDS, f"200 on /-/healthy at {HOST}:{port}"):
        yield blackbox

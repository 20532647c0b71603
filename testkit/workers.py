"""A service run with several workers, looked at from outside: its worker processes, how many have started,
what one scrape of /metrics says, and what each worker counted itself (its own multiprocess file), which
shows how the requests were spread over the workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from testkit.client import fetch
from testkit.service import Service


def metrics_dir(service: Service) -> Path:
    """The multiprocess directory the service logged at start ("starting workers")."""
    for line in service.log().splitlines():
        record = json.loads(line)
        if record.get("message") == "starting workers":
            return Path(record["metrics_dir"])
    raise AssertionError(f"no 'starting workers' line in the log:\n{service.log_tail()}")


def worker_pids(service: Service) -> set[int]:
    """The supervisor's worker processes (spawned children), not its other helpers."""
    children = Path(f"/proc/{service.pid}/task/{service.pid}/children").read_text(encoding="ascii").split()
    pids = set()
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if b"spawn_main" in command and b"resource_tracker" not in command:
            pids.add(pid)
    return pids


def workers_started(service: Service) -> int:
    """How many workers have completed their startup (each logs it once), replacements included."""
    return service.log().count('"message": "Application startup complete."')


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(name) == value for name, value in wanted.items())


def scraped(port: int, sample: str, **labels: str) -> float:
    """One scrape of /metrics: the sum of `sample`'s values with these labels."""
    answer = fetch(port, "GET", "/metrics")
    assert answer.status == 200, answer.body
    return sum(
        s.value
        for family in text_string_to_metric_families(answer.body.decode())
        for s in family.samples
        if s.name == sample and _matches(s.labels, labels)
    )


def counted_by_worker(directory: Path, sample: str, **labels: str) -> dict[str, float]:
    """Each counter file's own count of `sample` (by file: `counter_PID.db`, or `counter_archive.db` for the
    workers that have died)."""
    counts = {}
    for path in sorted(directory.glob("counter_*.db")):
        values: Any = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        counts[path.stem.removeprefix("counter_")] = sum(
            value
            for key, value, _, _ in values
            if json.loads(key)[1] == sample and _matches(json.loads(key)[2], labels)
        )
    return counts

"""`python -m benchmarks.workers`: /predict requests/s at concurrency 32 with 1 worker and with 2, in one run.

Both services run side by side (the one not measured is idle); rounds alternate 1, 2, 1, 2, ... so a drift in
the machine's speed falls on both. Connections open one after another (testkit.load, `stagger`), as clients
arriving do. The load generator is one Python process on the same machine: on 2 cores it takes a share of the
CPU the workers would use, so the ratio is a floor for what separate client machines would see. Prints each
round, the medians, the 2:1 ratio, and how the 2-worker requests were spread (each worker's own count).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from testkit.customers import VALID_CUSTOMER
from testkit.load import Reply, http_request, run_load
from testkit.process import wait_for
from testkit.service import Service, launch
from testkit.workers import counted_by_worker, metrics_dir, workers_started

BODY = http_request("POST", "/predict", json.dumps(VALID_CUSTOMER).encode())


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by `pid` and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split())]
    total = 0
    for each in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def rate(service: Service, concurrency: int, seconds: float) -> tuple[float, int, int, float]:
    """Requests/s over `seconds` of load at `concurrency`; the answers, the non-200 answers, and the service's
    CPU milliseconds per answer."""
    replies: list[Reply] = []
    cpu = cpu_seconds(service.pid)
    started = time.monotonic()
    deadline = started + seconds
    asyncio.run(
        run_load(service.port, concurrency, [BODY], lambda: time.monotonic() < deadline, replies.append, stagger=True)
    )
    elapsed = time.monotonic() - started
    used = cpu_seconds(service.pid) - cpu
    answers = len(replies)
    return answers / elapsed, answers, sum(reply.status != 200 for reply in replies), 1000 * used / max(answers, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="load per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per worker count")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    figures: dict[str, object] = {"concurrency": args.concurrency, "seconds_per_round": args.seconds}
    with contextlib.ExitStack() as stack:
        services = {workers: stack.enter_context(launch(workers=workers)) for workers in (1, 2)}
        wait_for(lambda: workers_started(services[2]) == 2, 60, "both workers to start")
        for service in services.values():
            rate(service, args.concurrency, 0.5)  # warm-up: imports, caches, connections
        rounds: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[float]] = {1: [], 2: []}
        failed = 0
        for index in range(args.rounds):
            for workers, service in services.items():
                per_second, answers, errors, cpu_ms = rate(service, args.concurrency, args.seconds)
                rounds[workers].append(per_second)
                cpu[workers].append(cpu_ms)
                failed += errors
                print(
                    f"round {index + 1}  {workers} worker(s)  {per_second:8.1f} requests/s  ({answers} answers, "
                    f"{cpu_ms:.3f} service CPU ms each)"
                )
        spread = counted_by_worker(metrics_dir(services[2]), "churn_predictions_total")
    one, two = statistics.median(rounds[1]), statistics.median(rounds[2])
    figures |= {
        "rps_1_worker": round(one, 1),
        "rps_2_workers": round(two, 1),
        "ratio_2_to_1": round(two / one, 3),
        "service_cpu_ms_per_request_1": round(statistics.median(cpu[1]), 3),
        "service_cpu_ms_per_request_2": round(statistics.median(cpu[2]), 3),
        "cores": os.cpu_count(),
        "non_200_answers": failed,
        "predictions_by_worker_2": {name: int(count) for name, count in spread.items()},
    }
    for name, value in figures.items():
        print(f"{name:24} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m benchmarks.predict`: /predict latency and throughput against a real uvicorn on 127.0.0.1.

Prints: p50/p99 of /predict at concurrency 1 (one keep-alive connection); /predict vs /health/live p50
timed interleaved on that connection (a ratio survives machine speed drift); requests/s at concurrency
32; and the in-process time to score one row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from service.dataplane import DataPlane
from service.metrics import ServiceMetrics
from service.model_store import ModelStore
from service.profile import load_profile
from service.schemas import build_customer_model
from service.validation import Validator
from testkit.client import Client
from testkit.customers import VALID_CUSTOMER
from testkit.load import Reply, budget, http_request, run_load
from testkit.paths import MODEL_DIR, PROFILE_PATH
from testkit.service import launch

BODY = json.dumps(VALID_CUSTOMER).encode()


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(client: Client, method: str, path: str, body: bytes | None) -> float:
    start = time.perf_counter()
    answer = client.request(method, path, body)
    elapsed = answer.at - start
    if answer.status != 200:
        raise RuntimeError(f"{method} {path} answered {answer.status}")
    return elapsed


def interleaved(port_a: int, port_b: int, requests: int) -> tuple[list[float], list[float]]:
    """/predict latencies of two services, one keep-alive connection each, after a warm-up; pairs alternate
    which goes first, so machine-speed drift and ordering effects hit both alike."""
    first: list[float] = []
    second: list[float] = []
    with Client(port_a) as a, Client(port_b) as b:
        for _ in range(200):  # warm-up: imports, caches, connections
            timed(a, "POST", "/predict", BODY)
            timed(b, "POST", "/predict", BODY)
        for i in range(requests):
            if i % 2:
                first.append(timed(a, "POST", "/predict", BODY))
                second.append(timed(b, "POST", "/predict", BODY))
            else:
                second.append(timed(b, "POST", "/predict", BODY))
                first.append(timed(a, "POST", "/predict", BODY))
    return first, second


def sequential(port: int, requests: int) -> tuple[list[float], list[float]]:
    """Interleave /predict and /health/live on one keep-alive connection; returns both latency lists."""
    with Client(port) as client:
        for _ in range(200):  # warm-up: imports, caches, connection
            timed(client, "POST", "/predict", BODY)
        predict, live = [], []
        for _ in range(requests):
            predict.append(timed(client, "POST", "/predict", BODY))
            live.append(timed(client, "GET", "/health/live", None))
    return predict, live


async def concurrent(port: int, concurrency: int, per_worker: int) -> tuple[float, int]:
    """`concurrency` keep-alive connections sending `per_worker` requests each (in all); seconds and 200s."""
    ok = 0

    def count(reply: Reply) -> None:
        nonlocal ok
        ok += reply.status == 200

    start = time.perf_counter()
    await run_load(port, concurrency, [http_request("POST", "/predict", BODY)], budget(concurrency * per_worker), count)
    return time.perf_counter() - start, ok


def in_process(rows: int) -> float:
    profile, sha = load_profile(PROFILE_PATH)
    store = ModelStore(MODEL_DIR, sha, tuple(profile.features))
    store.refresh()
    plane = DataPlane(store, Validator(profile, build_customer_model(profile), 1), ServiceMetrics(store))
    for _ in range(200):
        plane.score([VALID_CUSTOMER])
    start = time.perf_counter()
    for _ in range(rows):
        plane.score([VALID_CUSTOMER])
    return (time.perf_counter() - start) / rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.predict", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="interleaved pairs at concurrency 1")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-worker", type=int, default=150, help="requests per connection at concurrency")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    one_row = in_process(2000)
    # Logging stays on (the access line is part of every request's cost); it goes to a temporary file.
    with launch() as service:
        predict, live = sequential(service.port, args.requests)
        seconds, ok = asyncio.run(concurrent(service.port, args.concurrency, args.per_worker))
    total = args.concurrency * args.per_worker
    figures = {
        "predict_p50_ms": statistics.median(predict) * 1000,
        "predict_p99_ms": percentile(predict, 0.99) * 1000,
        "live_p50_ms": statistics.median(live) * 1000,
        "predict_to_live_p50_ratio": statistics.median(predict) / statistics.median(live),
        "rps_at_concurrency": total / seconds,
        "concurrency": args.concurrency,
        "concurrent_requests": total,
        "concurrent_ok": ok,
        "in_process_one_row_ms": one_row * 1000,
    }
    for name, value in figures.items():
        print(f"{name:28} {value:10.3f}" if isinstance(value, float) else f"{name:28} {value:10d}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if ok == total else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m benchmarks.predict`: /predict latency and throughput against a real uvicorn on 127.0.0.1.

Prints: p50/p99 of /predict at concurrency 1 (one keep-alive connection); /predict vs /health/live p50
timed interleaved on that connection (a ratio survives machine speed drift); requests/s at concurrency
32; and the in-process time to score one row.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.server import ROOT, running_service
from service.dataplane import DataPlane
from service.manifest import MODEL_DIR
from service.metrics import ServiceMetrics
from service.model_store import ModelStore
from service.profile import load_profile
from service.schemas import build_customer_model
from service.validation import Validator

CUSTOMER = {
    "gender": "Female", "senior_citizen": 0, "partner": "Yes", "dependents": "No", "tenure": 1,
    "phone_service": "No", "multiple_lines": "No phone service", "internet_service": "DSL",
    "online_security": "No", "online_backup": "Yes", "device_protection": "No", "tech_support": "No",
    "streaming_tv": "No", "streaming_movies": "No", "contract": "Month-to-month", "paperless_billing": "Yes",
    "payment_method": "Electronic check", "monthly_charges": 29.85, "total_charges": 29.85,
}  # fmt: skip
BODY = json.dumps(CUSTOMER).encode()
HEADERS = {"Content-Type": "application/json"}


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> float:
    start = time.perf_counter()
    connection.request(method, path, body=body, headers=HEADERS if body else {})
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{method} {path} answered {response.status}")
    return elapsed


def sequential(port: int, requests: int) -> tuple[list[float], list[float]]:
    """Interleave /predict and /health/live on one keep-alive connection; returns both latency lists."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(200):  # warm-up: imports, caches, connection
        timed(connection, "POST", "/predict", BODY)
    predict, live = [], []
    for _ in range(requests):
        predict.append(timed(connection, "POST", "/predict", BODY))
        live.append(timed(connection, "GET", "/health/live", None))
    connection.close()
    return predict, live


async def _worker(port: int, count: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    ok = 0
    for _ in range(count):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        ok += head.startswith(b"HTTP/1.1 200")
    writer.close()
    await writer.wait_closed()
    return ok


async def concurrent(port: int, concurrency: int, per_worker: int) -> tuple[float, int]:
    start = time.perf_counter()
    results = await asyncio.gather(*(_worker(port, per_worker) for _ in range(concurrency)))
    return time.perf_counter() - start, sum(results)


def in_process(rows: int) -> float:
    profile, sha = load_profile(ROOT / "data_profile.json")
    store = ModelStore(ROOT / MODEL_DIR, sha, tuple(profile.features))
    store.refresh()
    plane = DataPlane(store, Validator(profile, build_customer_model(profile), 1), ServiceMetrics(store))
    for _ in range(200):
        plane.score([CUSTOMER])
    start = time.perf_counter()
    for _ in range(rows):
        plane.score([CUSTOMER])
    return (time.perf_counter() - start) / rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.predict", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="interleaved pairs at concurrency 1")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-worker", type=int, default=150, help="requests per connection at concurrency")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    one_row = in_process(2000)
    with running_service() as port:
        predict, live = sequential(port, args.requests)
        seconds, ok = asyncio.run(concurrent(port, args.concurrency, args.per_worker))
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

"""Soak: a real `python -m service` under SOAK_SECONDS of traffic at concurrency 32 on 127.0.0.1. Zero errors,
and its resident memory (VmRSS, sampled every second) grows less than 10% from the first 10 s to the last 10 s.

The traffic mixes what production sends: single predictions (most), batches, inputs outside the profile
(answered 422, as they should be), readiness probes and metric scrapes.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest

from experiments.train import TrainResult
from testkit.load import Reply, http_request, rss_kib, run_load
from testkit.service import launch
from tests.utils.ops_figures import report
from tests.utils.ops_models import api_customers

pytestmark = [pytest.mark.slow, pytest.mark.long(32)]

SOAK_SECONDS = 30.0  # within the suite's 8-minute budget; the first and last 10 s windows are still 10 s apart
CONCURRENCY = 32
WINDOW_SECONDS = 10.0  # RSS is compared between the first and the last window of this length
MAX_GROWTH = 0.10
SAMPLE_SECONDS = 1.0


def _traffic(result: TrainResult) -> list[tuple[bytes, int]]:
    """(request, expected status) pairs: 48 single predictions, 4 batches, 4 invalid inputs, 2 probes, 2 scrapes."""
    customers = api_customers(result, 48)
    traffic = [(http_request("POST", "/predict", json.dumps(c).encode()), 200) for c in customers]
    for start in range(0, 40, 10):
        batch = json.dumps({"customers": customers[start : start + 10]}).encode()
        traffic.append((http_request("POST", "/predict/batch", batch), 200))
    for change in ({"tenure": 99}, {"contract": "Weekly"}, {"monthly_charges": -1}, {"tenure": 0}):
        traffic.append((http_request("POST", "/predict", json.dumps({**customers[0], **change}).encode()), 422))
    traffic += [(http_request("GET", "/health/ready"), 200)] * 2 + [(http_request("GET", "/metrics"), 200)] * 2
    return traffic


def test_a_minute_at_concurrency_32_has_no_errors_and_no_memory_growth(
    tmp_path: Path, model_dir: Path, baseline_result: TrainResult, request: pytest.FixtureRequest
) -> None:
    traffic = _traffic(baseline_result)
    expected = [status for _, status in traffic]
    statuses: Counter[int] = Counter()
    errors: list[Reply] = []
    samples: list[tuple[float, int]] = []

    def record(reply: Reply) -> None:
        statuses[reply.status] += 1
        if reply.status != expected[reply.item]:
            errors.append(reply)

    with launch(tmp_path, model_dir=model_dir) as service:
        started = time.monotonic()
        end = started + SOAK_SECONDS

        async def soak() -> None:
            async def sample() -> None:
                while time.monotonic() < end:
                    samples.append((time.monotonic() - started, rss_kib(service.pid)))
                    await asyncio.sleep(SAMPLE_SECONDS)

            sampler = asyncio.create_task(sample())
            await run_load(service.port, CONCURRENCY, [r for r, _ in traffic], lambda: time.monotonic() < end, record)
            await sampler

        asyncio.run(soak())
        duration = time.monotonic() - started
        assert service.process.poll() is None, service.log()

    first = [rss for at, rss in samples if at < WINDOW_SECONDS]
    last = [rss for at, rss in samples if at >= duration - WINDOW_SECONDS]
    growth = statistics.mean(last) / statistics.mean(first) - 1
    total = statuses.total()
    report(
        request,
        "soak",
        {
            "seconds": round(duration, 1),
            "concurrency": CONCURRENCY,
            "requests": total,
            "requests_per_s": round(total / duration),
            "by_status": dict(sorted(statuses.items())),
            "errors": len(errors),
            "rss_first_10s_mib": round(statistics.mean(first) / 1024, 1),
            "rss_last_10s_mib": round(statistics.mean(last) / 1024, 1),
            "rss_growth_pct": round(growth * 100, 2),
            "rss_samples": len(samples),
        },
    )
    assert not errors, f"{len(errors)} errors, e.g. {errors[:3]}"
    assert len(first) >= 5
    assert len(last) >= 5
    assert growth < MAX_GROWTH, f"RSS grew {growth:.1%} from the first to the last {WINDOW_SECONDS:g} s"

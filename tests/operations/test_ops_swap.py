"""Zero-downtime model updates under load: a real `python -m service` answers /predict at concurrency 16 while
five promotions and one rollback are written into the directory it serves, the way `experiments promote`
writes them (experiments.model_dir.export_model_dir: a sibling directory swapped in by one atomic rename).

Every answer must be a 200 from a version that was written, old or new at the time it was asked; its
probability must be exactly what that version's model gives that customer; and every version written must
have been served.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from experiments.data import sha256_bytes
from experiments.model_dir import export_model_dir, serialize_pipeline
from experiments.train import TrainResult
from service.manifest import read_manifest
from testkit.load import Reply, http_request, run_load
from testkit.paths import PROFILE_PATH
from testkit.process import wait_for
from testkit.service import launch
from tests.utils.models import retrained
from tests.utils.ops_figures import report
from tests.utils.ops_models import api_customers, expected_probabilities

pytestmark = pytest.mark.slow

CONCURRENCY = 16
MIN_REQUESTS = 3000
BETWEEN_SWAPS = 450  # answers after a version is first served before the next one is written
CUSTOMERS = 64
SERVED_SECONDS = 20  # bound on a written version appearing in answers (the watcher polls every 0.1 s)
LOAD_SECONDS = 120  # bound on the whole run


@dataclass
class Write:
    version: str
    model: str  # which trained model's bytes
    kind: str  # "initial", "promote" or "rollback"
    started: float
    finished: float


@dataclass
class Run:
    """Shared between the event loop (answers) and the thread that writes versions; ints and sets only."""

    replies: list[Reply] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    done: threading.Event = field(default_factory=threading.Event)

    def record(self, reply: Reply) -> None:
        self.replies.append(reply)
        if reply.status == 200:
            self.seen.add(json.loads(reply.body)["model_version"])


@pytest.fixture(scope="module")
def models(baseline_result: TrainResult) -> dict[str, TrainResult]:
    """Three real models: the baseline and two more regularised logistic regressions (other probabilities)."""
    return {"A": baseline_result, "B": retrained(baseline_result, C=0.1), "C": retrained(baseline_result, C=0.03)}


def _answers_after(run: Run, count: int) -> None:
    wait_for(lambda: len(run.replies) >= count, LOAD_SECONDS, f"{count} answers")


def _swap(model_dir: Path, models: dict[str, TrainResult], run: Run, writes: list[Write]) -> None:
    """Five promotions and a rollback, each written once the previous version is being served."""
    plan = [("promote", "B"), ("promote", "C"), ("promote", "A"), ("promote", "B"), ("promote", "C")]
    plan.append(("rollback", "B"))  # `promote --rollback`: the previous champion's model, written the same way
    try:
        for kind, name in plan:
            _answers_after(run, len(run.replies) + BETWEEN_SWAPS)
            started = time.monotonic()
            version = export_model_dir(models[name], model_dir, PROFILE_PATH).version
            writes.append(Write(version, name, kind, started, time.monotonic()))
            wait_for(partial(run.seen.__contains__, version), SERVED_SECONDS, f"version {version} to be served")
        _answers_after(run, max(len(run.replies) + BETWEEN_SWAPS, MIN_REQUESTS))
    finally:
        run.done.set()


def _write_index(writes: list[Write], version: str) -> int:
    (index,) = [i for i, write in enumerate(writes) if write.version == version]
    return index


def _last_written_before(writes: list[Write], moment: float) -> int:
    return max(i for i, write in enumerate(writes) if write.finished <= moment)


def test_promotions_and_a_rollback_under_load_lose_no_request(
    tmp_path: Path, model_dir: Path, models: dict[str, TrainResult], request: pytest.FixtureRequest
) -> None:
    customers = api_customers(models["A"], CUSTOMERS)
    bodies = [http_request("POST", "/predict", json.dumps(c).encode()) for c in customers]
    expected = {}
    for result in models.values():
        model_bytes = serialize_pipeline(result)
        expected[sha256_bytes(model_bytes)] = expected_probabilities(model_bytes, customers)
    initial = read_manifest(model_dir)
    assert initial.model_sha256 == sha256_bytes(serialize_pipeline(models["A"]))
    writes = [Write(initial.version, "A", "initial", 0.0, 0.0)]
    by_version = {initial.version: expected[initial.model_sha256]}

    run = Run()
    with launch(tmp_path, model_dir=model_dir, reload_interval_seconds=0.1) as service:
        swapper = threading.Thread(target=_swap, args=(model_dir, models, run, writes), daemon=True)
        deadline = time.monotonic() + LOAD_SECONDS
        started = time.monotonic()
        swapper.start()
        asyncio.run(
            run_load(
                service.port,
                CONCURRENCY,
                bodies,
                lambda: not run.done.is_set() and time.monotonic() < deadline,
                run.record,
            )
        )
        duration = time.monotonic() - started
        swapper.join(timeout=10)
        log = service.log()
    for write in writes[1:]:
        manifest_sha = sha256_bytes(serialize_pipeline(models[write.model]))
        by_version[write.version] = expected[manifest_sha]

    failures = [r for r in run.replies if r.status != 200]
    versions = Counter(json.loads(r.body)["model_version"] for r in run.replies if r.status == 200)
    load_failures = log.count('"message": "model load failed"')
    report(
        request,
        "swap_under_load",
        {
            "requests": len(run.replies),
            "concurrency": CONCURRENCY,
            "promotions": sum(w.kind == "promote" for w in writes),
            "rollbacks": sum(w.kind == "rollback" for w in writes),
            "failed_requests": len(failures),
            "duration_s": round(duration, 2),
            "requests_per_s": round(len(run.replies) / duration),
            "answers_by_version": dict(sorted(versions.items(), key=lambda kv: int(kv[0]))),
            "versions_written": [f"{w.version}:{w.model}:{w.kind}" for w in writes],
            "reload_attempts_refused": load_failures,
        },
    )
    assert not swapper.is_alive()
    assert [w.kind for w in writes].count("promote") == 5
    assert [w.kind for w in writes].count("rollback") == 1
    assert not failures, f"{len(failures)} failed requests, e.g. {failures[:3]}"
    assert len(run.replies) >= MIN_REQUESTS
    assert set(versions) == {w.version for w in writes}, "every written version must have been served"

    last_index: dict[int, int] = {}
    for reply in sorted(run.replies, key=lambda r: r.sent):
        answer: dict[str, Any] = json.loads(reply.body)
        customer = customers[reply.item]
        index = _write_index(writes, answer["model_version"])
        # Old or new: never a version written after the answer came back, nor one superseded twice before the
        # request was sent; and on one connection, never an older version after a newer one.
        assert writes[index].started <= reply.received, (answer, writes[index])
        assert index >= _last_written_before(writes, reply.sent) - 1, (answer, reply)
        assert index >= last_index.get(reply.worker, 0), (answer, reply)
        last_index[reply.worker] = index
        probability = by_version[answer["model_version"]][reply.item]
        assert math.isclose(answer["probability"], probability, rel_tol=0, abs_tol=1e-12), (answer, probability)
        assert answer["prediction"] == int(answer["probability"] >= 0.5)
        assert answer["customer_id"] == customer["customer_id"]

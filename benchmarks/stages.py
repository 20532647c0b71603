"""`python -m benchmarks.stages [--rows N]`: where the weekly list's CPU goes, stage by stage, on one thread.

A seeded export (`benchmarks.batch.generate`) is parsed, scored, spilled, deduplicated and merged serially,
with the committed model; each stage's CPU time on its thread (`time.thread_time`) is summed. "scoring,
the rest" is what `score_chunk` spends beyond validation, encoding, the logit and reasons (drift counts, the
scored table); the merge's figure is its own thread's (the CSV is formatted on two more). The command runs
the same stages on two cores at once: this says which ones to make cheaper, not how long the command takes.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.batch import generate
from scoring import runs, weekly
from scoring.explain import Explainer
from scoring.header import Header
from scoring.read import ExportReader
from scoring.runs import Selection
from scoring.validate import ColumnarValidator
from service.encoding import FastEncoder
from service.model_store import load_model_dir
from service.profile import load_profile
from service.schemas import build_customer_model
from service.settings import Settings
from service.validation import MAX_BATCH, Validator

SPENT: defaultdict[str, float] = defaultdict(float)


def _timed(stage: str, work: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(work)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return work(*args, **kwargs)
        finally:
            SPENT[stage] += time.thread_time() - start

    return timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    for owner, name, stage in (
        (ColumnarValidator, "check", "validation"), (FastEncoder, "encode_columns", "encoding"),
        (FastEncoder, "score", "the logit"), (Explainer, "reasons", "reasons"), (weekly, "score_chunk", "scoring"),
        (runs, "_spill", "spilling the runs"), (weekly, "duplicates", "duplicates"), (weekly, "merge", "the merge"),
    ):  # fmt: skip
        setattr(owner, name, _timed(stage, getattr(owner, name)))
    settings = Settings()
    profile, profile_sha256 = load_profile(settings.data_profile)
    model = load_model_dir(settings.model_dir, profile_sha256, tuple(profile.features), from_plan=True)
    scorer = weekly.Scorer(Validator(profile, build_customer_model(profile), MAX_BATCH), model)
    with tempfile.TemporaryDirectory(prefix="churn-stages-") as tmp:
        export = generate(args.rows, Path(tmp) / "export.csv")
        reader = ExportReader(export)
        chunks = reader.chunks(Header.resolve(reader.names, tuple(profile.features)).source, scorer.categorical)
        with weekly.Assembly(Path(tmp) / "out", scorer) as assembly:
            while True:
                start = time.thread_time()
                chunk = next(chunks, None)
                SPENT["parsing"] += time.thread_time() - start
                if chunk is None:
                    break
                assembly.add(weekly.score_chunk(scorer, chunk))
            assembly.finish(weekly.Source(export.name, reader.sha256, "csv", ()), Selection(), 1.0, time.perf_counter())
    inner = sum(SPENT[s] for s in ("validation", "encoding", "the logit", "reasons"))
    SPENT["scoring, the rest"] = SPENT.pop("scoring") - inner
    print(f"{args.rows:,} rows, CPU seconds per stage, all on one thread but the CSV formatting:")
    for stage, seconds in SPENT.items():
        print(f"  {stage:<20} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

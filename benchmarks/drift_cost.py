"""`python -m benchmarks.drift_cost`: what the serving drift window costs /predict, measured interleaved.

Two real uvicorn services on 127.0.0.1 over the committed model (which ships its reference): one with
CHURN_DRIFT_WINDOW=0 (no window), one with the default 10,000. Requests alternate between them on one
keep-alive connection each, the order swapped every pair, so machine-speed drift hits both alike (as
benchmarks.shadow measures the challenger). Prints both p50 and p99, their ratio (the issue's bound: p50 at
most +5%), and the window's rows from the measured service's /metrics (proof it was fed). Exit 1 over the bound.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from benchmarks.predict import interleaved, percentile
from testkit.service import launch
from testkit.workers import scraped

BOUND = 1.05
WINDOW = 10_000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drift_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="interleaved pairs")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with launch(drift_window=0) as plain, launch(drift_window=WINDOW) as watched:
        without, with_window = interleaved(plain.port, watched.port, args.requests)
        rows = scraped(watched.port, "churn_feature_drift_window_rows")
    figures = {
        "no_window_p50_ms": statistics.median(without) * 1000,
        "window_p50_ms": statistics.median(with_window) * 1000,
        "p50_ratio": statistics.median(with_window) / statistics.median(without),
        "no_window_p99_ms": percentile(without, 0.99) * 1000,
        "window_p99_ms": percentile(with_window, 0.99) * 1000,
        "window_rows": rows,
    }
    for name, value in figures.items():
        print(f"{name:20} {value:10.4f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if figures["p50_ratio"] <= BOUND else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m benchmarks.shadow`: what a challenger in shadow costs /predict, measured interleaved.

Two real uvicorn services on 127.0.0.1 over the committed model: one alone, one with CHURN_CHALLENGER_DIR
naming a real variant (the logreg_c01 config, trained here). Requests alternate between them on one
keep-alive connection each, the order swapped every pair, so machine-speed drift hits both alike. Prints
both p50 and p99, their ratio (the issue's bound: p50 at most 1.3x), and what the shadow measured on the
way (from its /metrics).
Exit 1 when the p50 ratio is over the bound.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.predict import interleaved, percentile
from experiments.config import load_config
from experiments.model_dir import export_model_dir
from experiments.train import train
from testkit.paths import PROFILE_PATH, ROOT
from testkit.service import launch
from testkit.workers import scraped

BOUND = 1.3


def challenger(directory: Path) -> Path:
    config = load_config(ROOT / "experiments" / "configs" / "logreg_c01.toml")
    config = config.model_copy(update={"data": config.data.model_copy(update={"path": ROOT / config.data.path})})
    export_model_dir(train(config), directory, PROFILE_PATH)
    return directory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shadow", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="interleaved pairs")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="churn-shadow-bench-") as scratch:
        shadow_dir = challenger(Path(scratch) / "challenger")
        with launch() as plain, launch(challenger_dir=shadow_dir) as shadowed:
            alone, watched = interleaved(plain.port, shadowed.port, args.requests)
            rows = scraped(shadowed.port, "churn_shadow_rows_total")
            disagreements = scraped(shadowed.port, "churn_shadow_disagreements_total")
            abs_delta = scraped(shadowed.port, "churn_shadow_abs_delta_sum")
    figures = {
        "alone_p50_ms": statistics.median(alone) * 1000,
        "shadow_p50_ms": statistics.median(watched) * 1000,
        "p50_ratio": statistics.median(watched) / statistics.median(alone),
        "alone_p99_ms": percentile(alone, 0.99) * 1000,
        "shadow_p99_ms": percentile(watched, 0.99) * 1000,
        "shadow_rows": rows,
        "shadow_disagreement_rate": disagreements / rows,
        "shadow_mean_abs_delta": abs_delta / rows,
    }
    for name, value in figures.items():
        print(f"{name:28} {value:10.4f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if figures["p50_ratio"] <= BOUND else 1


if __name__ == "__main__":
    raise SystemExit(main())

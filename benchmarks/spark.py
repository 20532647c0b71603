"""The weekly list on Spark against the local engine: `python -m benchmarks.spark [--rows N] [--master local[2]]`.

The same seeded export as `benchmarks.batch`, then each engine as its own process timed by /usr/bin/time
(wall seconds, peak RSS of the driver process only: the JVM and its Python workers are other processes):
- `python -m scoring weekly` (this machine's cores);
- `python -m scoring weekly --engine spark --master MASTER`, which also pays the JVM's start;
- the same on twice the rows, for the marginal cost per row without Spark's fixed costs.
`summary.json` gives the list's own time and Spark's stages. Prints rows/s per executor core and, from it, a
projection for 50M subscribers.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.batch import SEED, generate, timed

PROJECTED_ROWS = 50_000_000


def _cores(master: str) -> int:
    found = re.fullmatch(r"local\[(\d+)\]", master)
    if found is None:
        raise SystemExit(f"--master {master}: give local[N] (the projection needs the number of cores)")
    return int(found.group(1))


def _run(export: Path, out: Path, engine: str, master: str) -> dict[str, float]:
    command = [sys.executable, "-m", "scoring", "weekly", str(export), "--out", str(out), "--no-report",
               "--archive", str(out.parent / "lists"), "--engine", engine, "--master", master]  # fmt: skip
    wall, rss, _ = timed(command, f"scoring weekly ({engine})")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"process": wall, "rss": rss, "list": summary["wall_seconds"], **summary["engine"].get("seconds", {})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cores = _cores(args.master)
    with tempfile.TemporaryDirectory(prefix="churn-spark-bench-") as tmp:
        work = Path(tmp)
        export = generate(args.rows, work / "export.csv")
        double = generate(2 * args.rows, work / "double.csv")
        runs: dict[str, list[dict[str, float]]] = {"local": [], "spark": [], "spark x2": []}
        for _ in range(args.repeats):
            runs["local"].append(_run(export, work / "local", "local", args.master))
            runs["spark"].append(_run(export, work / "spark", "spark", args.master))
            runs["spark x2"].append(_run(double, work / "double", "spark", args.master))
        same = (work / "local" / "at_risk.csv").read_bytes() == (work / "spark" / "at_risk.csv").read_bytes()
        med = {e: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for e, rs in runs.items()}
        print(f"{args.rows:,} rows (seed {SEED}), {args.master}; medians of {args.repeats} run(s), interleaved:")
        for engine, m in med.items():
            print(f"  {engine:<8} process {m['process']:7.2f} s  list {m['list']:7.2f} s  driver RSS {m['rss']:6.0f} MB"
                  f"   x{m['process'] / med['local']['process']:5.2f} the local engine's process")  # fmt: skip
        print(f"  at_risk.csv byte for byte the same from both engines: {same}")
        # Spark's fixed costs (JVM, Python workers, the jobs' start) do not grow with the rows: the projection
        # uses the marginal cost of the second million, split into what executors share and what the driver does.
        one, two = med["spark"], med["spark x2"]
        spread = (two["count_blocks"] + two["partitions"]) - (one["count_blocks"] + one["partitions"])
        driver = (two["list"] - two["count_blocks"] - two["partitions"]) - (
            one["list"] - one["count_blocks"] - one["partitions"]
        )
        per_core = args.rows / spread / cores
        print(f"  marginal: {per_core:,.0f} rows/s per executor core (Spark's passes); the driver "
              f"{driver / args.rows * 1e6:.2f} s per million rows (staged read and merge)")  # fmt: skip
        for executors in (cores, 16, 64, 256):
            projected = PROJECTED_ROWS / per_core / executors + driver * PROJECTED_ROWS / args.rows
            print(f"  projection, {PROJECTED_ROWS:,} rows on {executors:>3} executor cores: {projected:6.0f} s "
                  f"(the driver {driver * PROJECTED_ROWS / args.rows:.0f} s of it)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

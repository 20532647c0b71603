"""The weekly list at scale: `python -m benchmarks.batch [--rows N] [--rounds 3] [--scale 10] [--no-mlflow]`.

A seeded resample of the data set to N rows (blank TotalCharges kept; a few planted bad rows), then, each as
its own process timed by /usr/bin/time (wall seconds, peak RSS):
- `python -m scoring weekly` (validated, explained, ranked, with rejected.csv and summary.json);
- the naive path: pandas.read_csv, the pipeline's predict_proba, a sort, to_csv (no validation);
- `mlflow models predict` of the same pipeline logged as an MLflow model in a temporary store;
- with `--scale K`: the command again on K times the rows (linearity, same RSS ceiling);
- with `--compare DIR`: the command as another checkout (e.g. main) has it, on the same file.
Every path runs once per round (`--rounds`, default 3), the order rotated between rounds. The machine may be
shared: compare the ratios, each taken within one round; the median and range over the rounds are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from experiments.data import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "telco_customer_churn.csv"
SEED = 20261201
OURS = "scoring weekly"
PLANTED_EVERY = 100_000  # one bad row (out of range / unknown category / broken rule) per 100k


def generate(rows: int, path: Path, *, snake: bool = False, seed: int = SEED) -> Path:
    """`rows` customers resampled from the data set (with replacement), unique ids, planted bad rows."""
    source = pa_csv.read_csv(
        DATA, convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string()))
    )
    picks = np.random.default_rng(seed).integers(0, source.num_rows, size=rows)
    table = source.take(pa.array(picks))
    ids = pc.binary_join_element_wise(pa.array(np.arange(rows).astype(str)), table.column("customerID"), "-")
    table = table.set_column(0, "customerID", ids)
    planted = np.arange(PLANTED_EVERY // 2, rows, PLANTED_EVERY)
    tenure = np.asarray(table.column("tenure").to_numpy(zero_copy_only=False), dtype=object)
    tenure[planted] = "999"
    table = table.set_column(table.schema.get_field_index("tenure"), "tenure", pa.array(tenure.tolist(), pa.string()))
    if snake:
        table = table.rename_columns([COLUMNS[name] for name in table.column_names])
        total = table.column("total_charges")
        table = table.set_column(
            table.schema.get_field_index("total_charges"), "total_charges", pc.utf8_trim_whitespace(total)
        )  # fmt: skip  (pandas reads "" as NaN, " " as text)
    pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(quoting_style="needed"))
    return path


def timed(
    command: list[str], label: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, the 1-minute load average when it ended) of one process. The machine may
    be shared: the load says how much of it the other sessions were using."""
    done = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *command], cwd=cwd, capture_output=True, text=True,
                          check=False, env={**os.environ, **(env or {})})  # fmt: skip
    load = os.getloadavg()[0]
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("TIME ")), None)
    if done.returncode not in (0, 3) or line is None:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    _, wall, rss = line.split()
    print(f"  {label:<24} {float(wall):7.2f} s {int(rss) / 1024:8.0f} MB   load {load:5.2f}", flush=True)
    return float(wall), int(rss) / 1024, load


NAIVE = textwrap.dedent(
    """
    import sys, joblib, pandas as pd
    from experiments.data import COLUMNS, FEATURES
    frame = pd.read_csv(sys.argv[1]).rename(columns=COLUMNS)
    frame["total_charges"] = pd.to_numeric(frame["total_charges"], errors="coerce")
    pipeline = joblib.load("models/churn/model.joblib")
    frame["probability"] = pipeline.predict_proba(frame[list(FEATURES)])[:, 1]
    frame.sort_values("probability", ascending=False)[["customer_id", "probability"]].to_csv(sys.argv[2], index=False)
    """
)

LOG_MODEL = textwrap.dedent(
    """
    import sys, joblib, mlflow, mlflow.sklearn
    mlflow.set_tracking_uri(sys.argv[1])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(joblib.load("models/churn/model.joblib"), name="model",
                                        pyfunc_predict_fn="predict_proba", serialization_format="cloudpickle")
    print(info.model_uri)
    """
)


def _report(rows: int, rounds: int, results: dict[str, list[tuple[float, float, float]]]) -> None:
    """Per path: the median wall, the highest peak RSS, and the wall as a multiple of ours, as the median and
    the range of the per-round ratios (each taken within one round, so machine drift hits both sides alike)."""
    ours = [wall for wall, _, _ in results[OURS]]
    print(f"{rows:,} rows (seed {SEED}), {rounds} interleaved round(s); median wall s, highest peak RSS MB, "
          "wall / ours (median of the rounds' ratios, their range), highest load:")  # fmt: skip
    for label, runs in results.items():
        walls = [wall for wall, _, _ in runs]
        ratios = [wall / mine for wall, mine in zip(walls, ours, strict=True)]
        spread = f"{min(ratios):5.2f}-{max(ratios):5.2f}" if len(ratios) > 1 else ""
        print(f"  {label:<24} {statistics.median(walls):7.2f} s {max(r for _, r, _ in runs):8.0f} MB   "
              f"x{statistics.median(ratios):5.2f} {spread:>11}   load {max(ld for _, _, ld in runs):5.2f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="every path once per round, the order rotated")
    parser.add_argument("--scale", type=int, default=0, help="also run the command on rows x SCALE (e.g. 10)")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--compare", type=Path, help="also run the command from this checkout (e.g. main), same file")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    with tempfile.TemporaryDirectory(prefix="churn-batch-bench-") as tmp:
        work = Path(tmp)
        export = generate(args.rows, work / "export.csv")
        # The archive beside the output (one filesystem): archiving is a hard link, as in production.
        command = [sys.executable, "-m", "scoring", "weekly", str(export), "--out", str(work / "out"), "--no-report",
                   "--archive", str(work / "lists")]  # fmt: skip
        paths: dict[str, tuple[list[str], dict[str, str] | None, Path]] = {OURS: (command, None, ROOT)}
        if args.compare:
            compared = [*command[:5], "--out", str(work / "compared"), *command[7:]]
            paths[f"scoring weekly @{args.compare.name}"] = (compared, None, args.compare)
        paths["naive pandas"] = ([sys.executable, "-c", NAIVE, str(export), str(work / "naive.csv")], None, ROOT)
        if not args.no_mlflow:
            snake = generate(args.rows, work / "snake.csv", snake=True)
            uri = f"sqlite:///{work}/mlflow.db"
            model_uri = subprocess.run([sys.executable, "-c", LOG_MODEL, uri], cwd=ROOT, capture_output=True,
                                       text=True, check=True).stdout.split()[-1]  # fmt: skip
            mlflow_cli = Path(sys.executable).with_name("mlflow")
            predict = [str(mlflow_cli), "models", "predict", "-m", model_uri, "-i", str(snake), "-t", "csv",
                       "-o", str(work / "mlflow.json"), "--env-manager", "local"]  # fmt: skip
            paths["mlflow models predict"] = (predict, {"MLFLOW_TRACKING_URI": uri}, ROOT)
        results: dict[str, list[tuple[float, float, float]]] = {label: [] for label in paths}
        labels = list(paths)
        for round_ in range(args.rounds):
            # Rotated: no path is always the first after the export is written, or always after the heaviest.
            for label in labels[round_ % len(labels) :] + labels[: round_ % len(labels)]:
                command_, env, cwd = paths[label]
                results[label].append(timed(command_, f"{label} (round {round_ + 1})", env, cwd))
        _report(args.rows, args.rounds, results)
        if args.scale:
            big = generate(args.rows * args.scale, work / "big.csv")
            wall, _, _ = timed([*command[:4], str(big), *command[5:]], f"{OURS} x{args.scale}")
            big.unlink()
            ours = statistics.median(w for w, _, _ in results[OURS])
            print(f"  linearity: time per row at x{args.scale} / at x1 (median) = {wall / (ours * args.scale):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

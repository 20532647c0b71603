"""`python -m benchmarks.http_batch`: batch scoring over HTTP against `mlflow models serve`, in one run.

Both servers run on 127.0.0.1 with the same committed pipeline and get the same 10,000 customers (a seeded
resample of the data set), as JSON and as CSV, requests interleaved so machine drift hits both alike:
- ours: `POST /predict/batch` with `{"customers": [...]}` and with `text/csv` (answered as CSV);
- the peer: `POST /invocations` with `{"dataframe_records": [...]}` and with `text/csv`.
Prints the median time per batch, rows/s, and our speed-up over the peer per format.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.batch import LOG_MODEL, generate
from experiments.columns import COLUMNS
from service.profile import CategoricalFeature, IntegerFeature, load_profile
from testkit.client import Client, probe
from testkit.net import free_port
from testkit.paths import PROFILE_PATH, ROOT
from testkit.process import clean_env, running, start
from testkit.service import launch

MLFLOW_STARTUP_SECONDS = 120.0


def _bodies(rows: int, work: Path) -> dict[str, bytes]:
    export = generate(rows, work / "export.csv")
    profile = load_profile(PROFILE_PATH)[0]
    customers: list[dict[str, Any]] = []
    with export.open(encoding="utf-8", newline="") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for name, snake in COLUMNS.items():
                spec = profile.features.get(snake)
                if spec is None:
                    continue
                text = raw[name].strip()
                if isinstance(spec, CategoricalFeature):
                    row[snake] = raw[name]
                elif not text:
                    row[snake] = None
                else:
                    row[snake] = int(text) if isinstance(spec, IntegerFeature) else float(text)
            row["customer_id"] = raw["customerID"]
            customers.append(row)
    snake_csv = io.StringIO()
    writer = csv.DictWriter(snake_csv, fieldnames=list(customers[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in c.items()} for c in customers)
    records = [{k: v for k, v in c.items() if k != "customer_id"} for c in customers]
    return {
        "ours json": json.dumps({"customers": customers}).encode(),
        "ours csv": export.read_bytes(),
        "mlflow json": json.dumps({"dataframe_records": records}).encode(),
        "mlflow csv": snake_csv.getvalue().encode(),
    }


@contextlib.contextmanager
def _mlflow_serve(work: Path) -> Iterator[int]:
    uri = f"sqlite:///{work}/mlflow.db"
    logged = subprocess.run([sys.executable, "-c", LOG_MODEL, uri], cwd=ROOT, capture_output=True, text=True,
                            check=True, env=clean_env({"MLFLOW_TRACKING_URI": uri}))  # fmt: skip
    model_uri = logged.stdout.split()[-1]
    port = free_port()
    command = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", model_uri, "--env-manager",
               "local", "--host", "127.0.0.1", "-p", str(port), "--workers", "1"]  # fmt: skip
    # It execs `uvicorn` by name: the virtualenv's bin must lead PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    server = start("mlflow models serve", command, log_path=work / "mlflow.log",
                   env=clean_env({"MLFLOW_TRACKING_URI": uri, "PATH": path}))  # fmt: skip

    def up() -> bool:
        answer = probe(port, "/ping")
        return answer is not None and answer.status == 200

    with running(server, up, MLFLOW_STARTUP_SECONDS, f"200 on /ping at 127.0.0.1:{port}"):
        yield port


def _post(client: Client, path: str, body: bytes, media: str) -> float:
    headers = {"Content-Type": media, "Accept": media}
    started = time.perf_counter()
    answer = client.request("POST", path, body, headers=headers)
    elapsed = time.perf_counter() - started
    if answer.status != 200:
        raise SystemExit(f"{path} ({media}) answered {answer.status}: {answer.body[:500]!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="churn-http-bench-") as tmp:
        work = Path(tmp)
        bodies = _bodies(args.rows, work)
        with launch(work, max_batch=args.rows) as ours, _mlflow_serve(work) as peer:
            clients = {"ours": Client(ours.port, timeout=120), "mlflow": Client(peer, timeout=120)}
            targets = {
                "ours json": ("ours", "/predict/batch", "application/json"),
                "mlflow json": ("mlflow", "/invocations", "application/json"),
                "ours csv": ("ours", "/predict/batch", "text/csv"),
                "mlflow csv": ("mlflow", "/invocations", "text/csv"),
            }
            times: dict[str, list[float]] = {name: [] for name in targets}
            for round_ in range(args.rounds + 1):
                for name, (server, path, media) in targets.items():
                    elapsed = _post(clients[server], path, bodies[name], media)
                    if round_:  # the first round warms both servers up
                        times[name].append(elapsed)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.rows:,} rows per request, median of {args.rounds} interleaved rounds:")
    for name, seconds in median.items():
        print(f"  {name:<12} {seconds * 1000:8.1f} ms   {args.rows / seconds:10,.0f} rows/s")
    for media in ("json", "csv"):
        print(f"  {media}: ours is x{median[f'mlflow {media}'] / median[f'ours {media}']:.2f} the peer's speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

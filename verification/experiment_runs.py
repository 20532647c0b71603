"""`python -m experiments run` in child processes of a given checkout, each with its own `PYTHONHASHSEED` and
its own SQLite store (written already migrated); started together, always reaped; and what each run logged,
read back from its store.

The children run the checkout's own code: the working directory and `PYTHONPATH` are its root, so a copy of
the repository with a planted fault is what runs, not the code of the process that asks.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from experiments.numerics import CORETYPE
from experiments.store import Store
from experiments.tracking import PREDICTIONS_ARTIFACT, read_predictions
from testkit.stores import empty_store

POLL = 0.05  # seconds between looks at the children


@dataclass(frozen=True)
class ChildRun:
    config: Path  # absolute, or relative to the root the child runs in
    seed: int  # the config's seed, for labels
    hash_seed: int  # the child's PYTHONHASHSEED
    kernel: str | None = None  # OPENBLAS_CORETYPE forced on the child; None: the one OpenBLAS picks

    @property
    def label(self) -> str:
        forced = f", {CORETYPE}={self.kernel}" if self.kernel else ""
        return f"seed {self.seed}, PYTHONHASHSEED={self.hash_seed}{forced}"


@dataclass(frozen=True)
class Logged:
    """One child's exit and what its run logged; `problem` says why nothing could be read back."""

    run: ChildRun
    exit_code: int | None  # None: killed at the timeout
    output: str  # its stdout and stderr, interleaved
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    rows: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    probabilities: NDArray[np.float64] = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    problem: str | None = None
    run_id: str = ""
    store_uri: str = ""

    def tail(self, lines: int = 15) -> str:
        """Its audit's verdict when it printed one (the mismatches say why it failed), else its last lines."""
        text = self.output.strip().splitlines()
        verdicts = [index for index, line in enumerate(text) if line.startswith("audit of run ")]
        shown = text[verdicts[-1] :] if verdicts else text[-lines:]
        return "\n".join(line for line in shown if not line.startswith("store: "))[-1500:]


def _read_back(store: Store) -> tuple[str, dict[str, float], NDArray[np.int64], NDArray[np.float64]]:
    experiment_ids = [experiment.experiment_id for experiment in store.client.search_experiments()]
    runs = store.client.search_runs(experiment_ids) if experiment_ids else []
    if len(runs) != 1:
        raise LookupError(f"the store holds {len(runs)} runs, not the 1 the child was to log")
    run_id = runs[0].info.run_id
    rows, probabilities = read_predictions(store.read_artifact_text(run_id, PREDICTIONS_ARTIFACT))
    return run_id, dict(runs[0].data.metrics), rows, probabilities


def run_children(runs: Sequence[ChildRun], root: Path, work: Path, python: str, timeout: float) -> list[Logged]:
    """Start every run at once (separate stores: no shared SQLite file to lock), wait for all, read them back."""
    started = time.perf_counter()
    children: list[tuple[subprocess.Popen[bytes], Path, str]] = []
    ended: dict[int, float] = {}  # child index -> seconds from the start to its exit
    try:
        for index, run in enumerate(runs):
            directory = work / f"run-{index}"
            directory.mkdir()
            uri = empty_store(directory / "mlflow.db")  # migrated already: the child runs, not MLflow's migrations
            # The store is given twice: the flag for the command, the variable so nothing can fall back to the
            # developer's mlflow.db. PYTHONPATH makes the root's code the code that runs.
            env = {**os.environ, "PYTHONHASHSEED": str(run.hash_seed), "PYTHONPATH": str(root)}
            env["MLFLOW_TRACKING_URI"] = uri
            if run.kernel is not None:
                env[CORETYPE] = run.kernel
            command = [python, "-m", "experiments", "run", str(run.config), "--tracking-uri", uri]
            with (directory / "output.txt").open("wb") as output:
                process = subprocess.Popen(command, cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT)
            children.append((process, directory, uri))
        # Polled, not waited on one by one, so each child's own wall time is measured.
        while len(ended) < len(children) and time.perf_counter() - started < timeout:
            for index, (process, _, _) in enumerate(children):
                if index not in ended and process.poll() is not None:
                    ended[index] = time.perf_counter() - started
            time.sleep(POLL)
    finally:
        for process, _, _ in children:  # a child still running at the timeout (or on an error here) is killed
            if process.poll() is None:
                process.kill()
                process.wait()
    return [
        _logged(run, process.returncode if index in ended else None, ended.get(index, timeout), directory, uri)
        for index, (run, (process, directory, uri)) in enumerate(zip(runs, children, strict=True))
    ]


def _logged(run: ChildRun, code: int | None, seconds: float, directory: Path, uri: str) -> Logged:
    text = (directory / "output.txt").read_text(encoding="utf-8", errors="replace")
    try:
        run_id, metrics, rows, probabilities = _read_back(Store.at(uri))
    except Exception as exc:  # an unreadable store (no run, no artifact) is reported, never a crash of the check
        return Logged(run, code, text, seconds, problem=f"{type(exc).__name__}: {exc}", store_uri=uri)
    return Logged(run, code, text, seconds, metrics, rows, probabilities, run_id=run_id, store_uri=uri)


def reproduce_child(logged: Logged, root: Path, python: str, timeout: float) -> tuple[int | None, str]:
    """`python -m experiments reproduce` of a logged run, in a child of the root's code with this process's
    environment (its kernel included): (exit code, None at the timeout; its output)."""
    env = {**os.environ, "PYTHONPATH": str(root), "MLFLOW_TRACKING_URI": logged.store_uri}
    command = [python, "-m", "experiments", "reproduce", logged.run_id, "--tracking-uri", logged.store_uri]
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout + done.stderr

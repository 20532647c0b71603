"""The committed `models/churn/` against what `run baseline` + `promote` produce, under the kernel it records.

The model file's bytes depend on the BLAS kernel (experiments/numerics.py), so the check first asks where the
committed model was trained (its manifest's `numeric_environment`) and plans as `reproduce` does: the same
kernel here, or forced in the child that runs the commands, demands the same bytes; a kernel this machine
cannot run demands the same labels and top-10% list and probabilities within `TOLERANCE` on every row.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from numpy.typing import NDArray

from experiments import numerics
from experiments.data import load_dataset
from experiments.metrics import top_fraction_mask
from experiments.numerics import NumericEnvironment
from experiments.reproduce import TOLERANCE, Mode, Plan, plan
from service.manifest import MODEL_FILE, read_manifest
from testkit.paths import ROOT
from testkit.stores import empty_store

# Exactly the documented commands, from the repository root: `python -m experiments run` + `promote`.
_PRODUCE = """
import sys
from experiments.cli import DEFAULT_CONFIG, main
from experiments.runs import run_experiment
from experiments.store import Store
store, target = sys.argv[1:3]
outcome = run_experiment(Store.at(store), DEFAULT_CONFIG)
sys.exit(main(["promote", outcome.run_id, "--model-dir", target, "--tracking-uri", store]))
"""
# The run lives in a local store, not in git; the environment is compared by kernel and libraries (thread
# counts and how the kernel was chosen do not reach the bytes: training runs on one thread).
PER_PROMOTION = frozenset({"created_at", "mlflow_run_id", "numeric_environment"})
PER_KERNEL = frozenset({"model_sha256", "encoder_sha256", "version", "metrics"})  # compared within bounds instead


def plan_for(committed: Path, runnable: Callable[[str], bool] = numerics.runnable_here) -> Plan:
    recorded = NumericEnvironment.from_tags(read_manifest(committed).numeric_environment)
    return plan(recorded, numerics.current(), runnable)


def produce(committed: Path, target: Path, kernel: str | None) -> None:
    """Promote a fresh baseline run over a copy of `committed` (so the version numbering is the same), in a
    child process under `kernel` (None: this process's)."""
    shutil.copytree(committed, target)
    store = empty_store(target.parent / "mlflow.db")
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    if kernel is not None:
        env[numerics.CORETYPE] = kernel
    done = subprocess.run(
        [sys.executable, "-c", _PRODUCE, store, str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _probabilities(directory: Path, X: object) -> NDArray[np.float64]:
    pipeline = joblib.load(io.BytesIO((directory / MODEL_FILE).read_bytes()))
    return np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class Comparison:
    mode: Mode
    same_bytes: bool
    differences: list[str] = field(default_factory=list)  # every manifest field or bound that disagrees

    @property
    def passed(self) -> bool:
        return not self.differences


def compare(committed: Path, produced: Path, mode: Mode) -> Comparison:
    ours, theirs = read_manifest(produced), read_manifest(committed)
    same_bytes = (produced / MODEL_FILE).read_bytes() == (committed / MODEL_FILE).read_bytes()
    exact = PER_PROMOTION if mode is not Mode.TOLERANCE else PER_PROMOTION | PER_KERNEL
    mine, other = ours.model_dump(exclude=set(exact)), theirs.model_dump(exclude=set(exact))
    differences = [
        f"manifest {key}: {other[key]!r} committed, {mine[key]!r} produced" for key in mine if mine[key] != other[key]
    ]
    if mode is not Mode.TOLERANCE:
        was, now = (NumericEnvironment.from_tags(m.numeric_environment) for m in (theirs, ours))  # committed, produced
        if was is None or now is None or not was.same_libraries(now) or was.kernels != now.kernels:
            differences.append(f"trained under {was} committed, {now} produced")
        if not same_bytes:
            differences.append(f"{MODEL_FILE}: the committed bytes are not what the commands produce")
        return Comparison(mode, same_bytes, differences)
    metric_gap = max(abs(value - ours.metrics.get(name, np.inf)) for name, value in theirs.metrics.items())
    if set(ours.metrics) != set(theirs.metrics) or metric_gap > TOLERANCE:
        differences.append(f"metrics differ by {metric_gap:.3g} > {TOLERANCE:g}")
    data = load_dataset()  # the committed data set, its SHA-256 checked
    p, q = _probabilities(committed, data.X), _probabilities(produced, data.X)
    gap = float(np.abs(p - q).max())
    if gap > TOLERANCE:
        differences.append(f"probabilities on the {len(p)} customers differ by up to {gap:.3g} > {TOLERANCE:g}")
    if not np.array_equal(p >= theirs.threshold, q >= theirs.threshold):
        differences.append(f"labels differ on {int(((p >= theirs.threshold) != (q >= theirs.threshold)).sum())} rows")
    if not np.array_equal(top_fraction_mask(p), top_fraction_mask(q)):
        differences.append("the top-10% lists differ")
    return Comparison(mode, same_bytes, differences)

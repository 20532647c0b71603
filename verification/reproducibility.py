"""Target 5, reproducibility: the same config run twice, in separate processes with different `PYTHONHASHSEED`,
logs exactly equal metrics and bit-identical test-set predictions; the config with its seed + 1 logs other
test rows and other metrics. Across kernels: a run made under another OpenBLAS kernel (forced in its child) is
reproduced by `python -m experiments reproduce` under this machine's kernel, which must rerun it under the
recorded kernel and find it bit-identical, and say so.

Through `python -m experiments run`, the data team's own command, each into its own temporary store; what is
compared is what the runs logged, read back from the stores. Separate processes, because a leak of state inside
one process (a global random state advanced, a cache) is exactly what a second run in the same process would
share; different hash seeds, because set and dict-of-str iteration order follows them.

Why the baseline for all three runs: it is the served model, and it costs the least. A tree model does not make
the seed matter more here: neither shipped estimator draws a random number on this data (logistic regression
with lbfgs is deterministic; HistGradientBoosting draws only to bin above 200,000 rows, to stop early above
10,000 or to sample features with `max_features` < 1; measured: random_state 1 and 2 predict identically). So for
both the seed acts through the split, and the estimator's seed is proven by each run's audit (`model.random_state`
must equal the config's seed).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import numpy as np

from experiments import numerics
from experiments.config import load_config
from testkit.paths import BASELINE_CONFIG, ROOT
from verification.configs import config_copy
from verification.experiment_runs import ChildRun, Logged, reproduce_child, run_children
from verification.result import CheckResult, verdict

TARGET = "reproducibility"
CHECK = (
    "same config in 2 processes (PYTHONHASHSEED=1, 2) -> equal metrics and predictions; seed + 1 -> different; "
    "a run under another BLAS kernel -> `reproduce` bit-identical under that kernel"
)
HASH_SEEDS = (1, 2)
CONFIG = BASELINE_CONFIG.relative_to(ROOT)  # inside whichever root the check is given
TIMEOUT = 300.0  # seconds for all three runs together; one takes ~6 s alone, ~11 s beside the other two
# The comparisons: reruns (same config, two hash seeds), reseeded (seed + 1), kernel (the run under another kernel,
# reproduced). Each run is started only when a part that is made needs it: each costs a process (~6 s of CPU).
Part = Literal["reruns", "reseeded", "kernel"]
PARTS: frozenset[Part] = frozenset(("reruns", "reseeded", "kernel"))
RUNS_FOR: dict[str, frozenset[Part]] = {
    "first": frozenset(("reruns", "reseeded")),
    "second": frozenset(("reruns",)),
    "reseeded": frozenset(("reseeded",)),
    "kernel": frozenset(("kernel",)),
}


def _identical(first: Logged, second: Logged) -> list[str]:
    """Every metric exactly equal and every test row's probability identical, each difference named."""
    failures = [
        f"metric {name} differs: {first.metrics.get(name)!r} ({first.run.label}) vs "
        f"{second.metrics.get(name)!r} ({second.run.label})"
        for name in sorted(set(first.metrics) | set(second.metrics))
        if first.metrics.get(name) != second.metrics.get(name)
    ]
    rows = len(first.rows)
    if not np.array_equal(first.rows, second.rows):
        elsewhere = len(np.setdiff1d(first.rows, second.rows))
        how = f"{elsewhere} of its {rows} test rows are not in the other's" if elsewhere else "in another order"
        failures.append(f"predictions differ: the two runs scored different test rows ({how}): the split is not "
                        "reproducible")  # fmt: skip
        return failures
    differ = np.flatnonzero(first.probabilities != second.probabilities)
    if differ.size:
        at = int(differ[0])
        failures.append(
            f"predictions differ on {differ.size} of {rows} test rows (row {first.rows[at]}: "
            f"{first.probabilities[at]!r} vs {second.probabilities[at]!r})"
        )
    return failures


def _different(original: Logged, reseeded: Logged, evidence: dict[str, Any]) -> list[str]:
    """Another seed must choose other test rows and give other metrics; otherwise the seed reaches nothing."""
    seed, other = original.run.seed, reseeded.run.seed
    moved = len(np.setdiff1d(original.rows, reseeded.rows))
    changed = [name for name in original.metrics if original.metrics[name] != reseeded.metrics.get(name)]
    evidence["reseeded"] = {"seed": other, "test_rows_changed": moved, "metrics_changed": changed}
    failures = []
    if moved == 0:
        failures.append(f"seed {other} chose the same {len(original.rows)} test rows as seed {seed}: the seed does "
                        "not reach the split")  # fmt: skip
    if not changed:
        failures.append(f"seed {other} logged exactly the metrics of seed {seed}: the seed does not reach the results")
    return failures


def _cross_kernel(logged: Logged, root: Path, evidence: dict[str, Any]) -> list[str]:
    """`reproduce` of the run made under another kernel must pass, and name the equality that held."""
    kernel = logged.run.kernel
    code, output = reproduce_child(logged, root, sys.executable, TIMEOUT)
    said = [line.removeprefix("equality: ") for line in output.splitlines() if line.startswith("equality: ")]
    evidence["cross_kernel"] = {"kernel": kernel, "exit_code": code, "equality": said[-1] if said else None}
    where = f"`python -m experiments reproduce` of the run made under {numerics.CORETYPE}={kernel}"
    if code is None:
        return [f"{where} did not finish within {TIMEOUT:.0f} s"]
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-6:])
        return [f"{where} exited {code}:\n{tail}"]
    if not said or not said[-1].startswith(f"bit-identical under the recorded kernel {kernel}"):
        return [f"{where} passed without saying it was bit-identical under {kernel}: {said}"]
    return []


def _problems(logged: Logged) -> list[str]:
    where = f"`python -m experiments run {logged.run.config}` ({logged.run.label})"
    found = []
    if logged.exit_code is None:
        found.append(f"{where} did not finish within {TIMEOUT:.0f} s and was killed")
    elif logged.exit_code != 0:  # its audit failed (exit 1) or it crashed: the tail says which
        found.append(f"{where} exited {logged.exit_code}:\n{logged.tail()}")
    if logged.problem is not None:
        found.append(f"{where}: its run cannot be read back: {logged.problem}")
    elif not logged.metrics or not logged.rows.size:
        found.append(f"{where} logged {len(logged.metrics)} metrics and {logged.rows.size} predictions: nothing to "
                     "compare")  # fmt: skip
    return found


def check_reproducibility(root: Path = ROOT, config: Path = CONFIG, *, parts: Collection[Part] = PARTS) -> CheckResult:
    """`root`: the checkout whose code runs (a temp copy with a planted fault, in the tests); `config` is in it.
    `parts`: which comparisons to make, each with only the runs it needs; all of them by default. A sabotage proof
    makes only the one it aims at: the check fails when any part fails, and no part's runs reach another's."""
    started = time.perf_counter()
    unknown = sorted(set(parts) - PARTS)
    if unknown or not parts:
        raise ValueError(f"parts must be some of {sorted(PARTS)}, not {sorted(parts)}")
    seed = load_config(root / config).seed
    kernel = numerics.another_kernel(numerics.current().kernel)
    with tempfile.TemporaryDirectory(prefix="churnguard-repro-") as tmp:
        # The reseeded copy keeps the relative data path: every child runs with the root as working directory.
        reseeded = config_copy(root / config, Path(tmp), seed=seed + 1)
        wanted = {
            "first": ChildRun(config, seed, HASH_SEEDS[0]),
            "second": ChildRun(config, seed, HASH_SEEDS[1]),
            "reseeded": ChildRun(reseeded, seed + 1, HASH_SEEDS[0]),  # only the seed differs from the first run
            "kernel": ChildRun(config, seed, HASH_SEEDS[0], kernel=kernel),  # only the kernel differs
        }
        chosen = {name: run for name, run in wanted.items() if RUNS_FOR[name] & set(parts)}
        results = run_children(list(chosen.values()), root, Path(tmp), sys.executable, TIMEOUT)
        logged = dict(zip(chosen, results, strict=True))
        readable = all(run.problem is None for run in logged.values())
        evidence_kernel: dict[str, Any] = {}
        kernel_failures: list[str] = []
        if "kernel" in parts and readable and not logged["kernel"].exit_code:
            # Inside the temporary directory: the reproduction reads and writes the run's own store.
            kernel_failures = _cross_kernel(logged["kernel"], root, evidence_kernel)
    evidence: dict[str, Any] = {
        "config": str(config),
        "root": str(root),
        "parts": sorted(parts),
        "hash_seeds": list(HASH_SEEDS),
        "run_seconds": {run.run.label: round(run.seconds, 1) for run in logged.values()},
        **evidence_kernel,
    }
    failures: list[str] = []
    said: list[str] = []
    if "reruns" in parts:
        first, second = logged["first"], logged["second"]
        same_rows = bool(first.rows.size) and np.array_equal(first.rows, second.rows)
        evidence["metrics_compared"] = len(set(first.metrics) | set(second.metrics))
        # Row by row, so only when both runs scored the same test rows.
        evidence["predictions_compared"] = len(first.rows) if same_rows else 0
        evidence["predictions_identical"] = int((first.probabilities == second.probabilities).sum()) if same_rows else 0
        said.append(f"{evidence['metrics_compared']} metrics and {evidence['predictions_compared']} predictions "
                    f"compared across PYTHONHASHSEED={HASH_SEEDS[0]}/{HASH_SEEDS[1]} processes")  # fmt: skip
    if readable:  # the differences first: they name the fault; a run's failed audit says where it came from
        if "reruns" in parts:
            failures += _identical(logged["first"], logged["second"])
        if "reseeded" in parts:
            failures += _different(logged["first"], logged["reseeded"], evidence)
    if "reseeded" in parts:
        changed = evidence.get("reseeded")
        said.append(f"seed {seed + 1}: " + (f"{changed['test_rows_changed']} test rows and "
                    f"{len(changed['metrics_changed'])} metrics changed" if changed else "not compared"))  # fmt: skip
    if "kernel" in parts:
        said.append(
            f"run under {kernel}: reproduce says {evidence.get('cross_kernel', {}).get('equality') or 'nothing'}"
        )
    failures += kernel_failures
    failures += [problem for run in logged.values() for problem in _problems(run)]
    return verdict(TARGET, CHECK, summary="; ".join(said), evidence=evidence, failures=failures, started=started)

"""Reproduce a run: re-run its logged config as a new run and say truthfully how equal the result is.

Where this machine can compute under the run's recorded BLAS kernel (the same kernel here, or OpenBLAS on
x86-64 forced to it in a child process) every metric and every test probability must be bit-identical.
Where it cannot (another architecture, another BLAS, a kernel this CPU lacks), the labels and the top-10%
list must be identical and every probability and metric within `TOLERANCE`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from experiments import numerics
from experiments.audit import AuditReport, audit_run, read_logged_config
from experiments.config import parse_config
from experiments.metrics import top_fraction_mask
from experiments.numerics import NumericEnvironment
from experiments.runs import run_config_text
from experiments.store import Store
from experiments.tables import format_table
from experiments.tracking import PREDICTIONS_ARTIFACT, read_predictions

# Across kernels the baseline's test probabilities differ by at most 7.5e-13 and its metrics by 2e-14
# (SkylakeX, Haswell, Sandybridge, Nehalem, Prescott, measured); the smallest genuine change tried, one
# training row, moves them by up to 3.2e-3 (tests/experiments/test_exp_reproduce_kernels.py). 1e-9 sits three orders
# of magnitude above the first and six below the second.
TOLERANCE = 1e-9
RERUN_LINE = "rerun: "  # how a child reports the run it made
CHILD_TIMEOUT = 600.0  # seconds; a rerun takes 5-10 s


class Mode(Enum):
    HERE = "bit-identical, in this process"
    CHILD = "bit-identical, in a child process under the recorded kernel"
    TOLERANCE = f"within {TOLERANCE:g}"


@dataclass(frozen=True)
class Plan:
    mode: Mode
    recorded: NumericEnvironment | None
    here: NumericEnvironment
    why: str


def plan(recorded: NumericEnvironment | None, here: NumericEnvironment, runnable: Callable[[str], bool]) -> Plan:
    if recorded is None:
        return Plan(Mode.HERE, None, here, "the run recorded no numeric environment: bit-identity is demanded")
    if not recorded.same_libraries(here):
        why = (
            f"recorded {recorded.kernel} on {recorded.machine} ({', '.join(recorded.blas)}), this machine "
            f"{here.kernel} on {here.machine} ({', '.join(here.blas)}): other libraries, the kernel cannot be rerun"
        )
        return Plan(Mode.TOLERANCE, recorded, here, why)
    if recorded.kernels == here.kernels:
        return Plan(Mode.HERE, recorded, here, f"the recorded kernel {recorded.kernel} is this process's")
    if len(recorded.kernels) == 1 and runnable(recorded.kernel):
        why = (
            f"recorded {recorded.kernel}, this process {here.kernel}: rerun with {numerics.CORETYPE}={recorded.kernel}"
        )
        return Plan(Mode.CHILD, recorded, here, why)
    why = f"recorded {recorded.kernel}, this machine {here.kernel} on {here.machine}: {recorded.kernel} cannot run here"
    return Plan(Mode.TOLERANCE, recorded, here, why)


@dataclass(frozen=True)
class Reproduction:
    original_run_id: str
    rerun_run_id: str
    plan: Plan
    original_metrics: dict[str, float]
    rerun_metrics: dict[str, float]
    rows: NDArray[np.int64]
    rerun_rows: NDArray[np.int64]
    probabilities: NDArray[np.float64]
    rerun_probabilities: NDArray[np.float64]
    threshold: float
    audit: AuditReport
    rerun_kernel: str

    @property
    def same_rows(self) -> bool:
        return bool(np.array_equal(self.rows, self.rerun_rows))

    @property
    def identical_predictions(self) -> int:
        """Test rows whose probability is bit-for-bit the original's."""
        return int((self.probabilities == self.rerun_probabilities).sum()) if self.same_rows else 0

    @property
    def max_difference(self) -> float:
        if not self.same_rows:
            return float("inf")
        return float(np.abs(self.probabilities - self.rerun_probabilities).max(initial=0.0))

    @property
    def metrics_equal(self) -> bool:
        return self.original_metrics == self.rerun_metrics

    @property
    def max_metric_difference(self) -> float:
        if set(self.original_metrics) != set(self.rerun_metrics):
            return float("inf")
        return max((abs(v - self.rerun_metrics[k]) for k, v in self.original_metrics.items()), default=0.0)

    @property
    def labels_equal(self) -> bool:
        at = self.threshold
        return self.same_rows and bool(np.array_equal(self.probabilities >= at, self.rerun_probabilities >= at))

    @property
    def top_equal(self) -> bool:
        """The top-10% list, the one the retention team calls, names the same customers."""
        mine, theirs = (top_fraction_mask(p) for p in (self.probabilities, self.rerun_probabilities))
        return self.same_rows and bool(np.array_equal(mine, theirs))

    @property
    def bit_identical(self) -> bool:
        return self.metrics_equal and self.same_rows and self.identical_predictions == len(self.rows)

    @property
    def within_tolerance(self) -> bool:
        return (
            self.labels_equal
            and self.top_equal
            and self.max_difference <= TOLERANCE
            and self.max_metric_difference <= TOLERANCE
        )

    @property
    def equality(self) -> str | None:
        """Which equality held, in words; None when none that this plan accepts did."""
        recorded = self.plan.recorded.kernel if self.plan.recorded else "unrecorded"
        if self.bit_identical:
            if self.plan.mode is Mode.TOLERANCE:
                return f"bit-identical (accepted within {TOLERANCE:g}): {self.plan.why}"
            return f"bit-identical under the recorded kernel {recorded}"
        if self.plan.mode is Mode.TOLERANCE and self.within_tolerance:
            return f"equal within {TOLERANCE:g}: {self.plan.why}"
        return None

    @property
    def kernel_held(self) -> bool:
        """In a child, the rerun must really have computed under the recorded kernel."""
        recorded = self.plan.recorded
        return self.plan.mode is not Mode.CHILD or recorded is None or self.rerun_kernel == recorded.kernel

    @property
    def passed(self) -> bool:
        return self.equality is not None and self.kernel_held and self.audit.passed

    def table(self) -> str:
        new = self.rerun_metrics
        names = [*new, *(name for name in self.original_metrics if name not in new)]
        rows = [
            [
                name,
                repr(self.original_metrics.get(name)),
                repr(new.get(name)),
                "yes" if self.original_metrics.get(name) == new.get(name) else "NO",
            ]
            for name in names
        ]
        verdict = "PASSED" if self.passed else "FAILED"
        return "\n".join(
            [
                f"original run {self.original_run_id} vs reproduction run {self.rerun_run_id}",
                f"kernel: {self.plan.why}; the reproduction computed under {self.rerun_kernel}",
                format_table(["metric", "original", "reproduced", "equal"], rows),
                f"test rows: {'the same' if self.same_rows else 'DIFFERENT'}; predictions identical on "
                f"{self.identical_predictions}/{len(self.rows)} rows; largest difference {self.max_difference:.3g}; "
                f"labels {'the same' if self.labels_equal else 'DIFFERENT'}; top 10% "
                f"{'the same' if self.top_equal else 'DIFFERENT'}",
                self.audit.verdict(),
                f"equality: {self.equality or 'NONE of the equalities this machine can demand held'}",
                f"reproduction: {verdict}",
            ]
        )


class ReproductionError(Exception):
    """The rerun could not be made (its child process failed); the message says how."""


def rerun(store: Store, run_id: str) -> tuple[str, AuditReport]:
    """Re-run the run's logged config in this process, as a new audited run tagged `reproduces`."""
    return _rerun(store, run_id, store.client.get_run(run_id).data.tags, *read_logged_config(store, run_id))


def _rerun(store: Store, run_id: str, tags: dict[str, str], text: str, suffix: str) -> tuple[str, AuditReport]:
    source = Path(tags.get("config.path", f"config{suffix}"))
    outcome = run_config_text(store, text, source, tags={"reproduces": run_id})
    return outcome.run_id, outcome.audit


def _rerun_in_child(store: Store, run_id: str, kernel: str) -> tuple[str, AuditReport]:
    command = [sys.executable, "-m", "experiments", "reproduce", run_id, "--tracking-uri", store.uri, "--rerun-only"]
    # Fixed argv: this interpreter and our own CLI; the kernel was probed (alphanumeric) before.
    done = subprocess.run(  # noqa: S603
        command,
        env={**os.environ, numerics.CORETYPE: kernel},
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RERUN_LINE)]
    if done.returncode not in (0, 1) or not lines:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise ReproductionError(f"the rerun under {kernel} exited {done.returncode}:\n{tail}")
    rerun_id = lines[-1].removeprefix(RERUN_LINE).strip()
    return rerun_id, audit_run(store, rerun_id)


def reproduce(store: Store, run_id: str, runnable: Callable[[str], bool] = numerics.runnable_here) -> Reproduction:
    """`runnable` says whether a kernel can be forced here (a probe of a child process, by default)."""
    original = store.client.get_run(run_id)
    text, suffix = read_logged_config(store, run_id)  # read once: the in-process rerun runs this very text
    the_plan = plan(NumericEnvironment.from_tags(original.data.tags), numerics.current(), runnable)
    if the_plan.mode is Mode.CHILD and the_plan.recorded is not None:
        rerun_id, audit = _rerun_in_child(store, run_id, the_plan.recorded.kernel)
    else:
        rerun_id, audit = _rerun(store, run_id, original.data.tags, text, suffix)
    rows, probabilities = read_predictions(store.read_artifact_text(run_id, PREDICTIONS_ARTIFACT))
    new_rows, new_probabilities = read_predictions(store.read_artifact_text(rerun_id, PREDICTIONS_ARTIFACT))
    again = store.client.get_run(rerun_id)
    return Reproduction(
        original_run_id=run_id,
        rerun_run_id=rerun_id,
        plan=the_plan,
        original_metrics=dict(original.data.metrics),
        rerun_metrics=dict(again.data.metrics),
        rows=rows,
        rerun_rows=new_rows,
        probabilities=probabilities,
        rerun_probabilities=new_probabilities,
        threshold=parse_config(text, suffix).threshold,
        audit=audit,
        rerun_kernel=again.data.tags.get(f"{numerics.TAG_PREFIX}kernel", "unrecorded"),
    )

"""The verification targets: issue number, CLI name, what promise, and the check that runs it.

A target is one module exposing a `check_*() -> CheckResult`. To add one, write `verification/<name>.py` and
append a `Target` here.
"""

from __future__ import annotations

from dataclasses import dataclass

from verification.audit import check_audit
from verification.contract import check_contract
from verification.health import check_health
from verification.lock import check_lock
from verification.reproducibility import check_reproducibility
from verification.result import Runner
from verification.valid_input import check_valid_input


@dataclass(frozen=True)
class Target:
    number: int  # as numbered in the verification issue
    name: str  # `python -m verification NAME`
    promise: str
    run: Runner
    # Runs beside the others: its time is spent waiting on a subprocess and the network, not the CPU.
    background: bool = False


TARGETS: tuple[Target, ...] = (
    Target(1, "contract", "the API keeps its OpenAPI contract under fuzzing", check_contract),
    Target(2, "valid_input", "every valid value is answered with a versioned prediction", check_valid_input),
    Target(3, "health", "health tells the truth when the model file disappears", check_health),
    Target(4, "audit", "every MLflow run is audited, and the audit names a planted metric and param", check_audit),
    # Not background although it waits on children: they train on the CPU, so beside contract fuzzing on two
    # cores nothing was gained (all six: 50-64 s as is, 55-64 s in the background), and its own time doubled.
    Target(5, "reproducibility", "the same config reproduces exactly; another seed does not", check_reproducibility),
    Target(6, "lock", "requirements.txt is current, pinned, hashed, installed and complete", check_lock, True),
)
BY_NAME = {target.name: target for target in TARGETS}

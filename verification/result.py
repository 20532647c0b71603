"""What every check returns: one typed verdict with its evidence, so the report and the tests read them alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    target: str  # the promise, e.g. "contract"
    check: str  # how it is checked, in a few words
    passed: bool
    summary: str  # one line of evidence for the table
    evidence: dict[str, Any] = field(default_factory=dict)  # the measured figures, for the JSON report
    failures: tuple[str, ...] = ()  # each names the fault, the request and the answer
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "check": self.check,
            "verdict": "PASS" if self.passed else "FAIL",
            "summary": self.summary,
            "seconds": round(self.seconds, 3),
            "evidence": self.evidence,
            "failures": list(self.failures),
        }


def from_json(document: dict[str, Any]) -> CheckResult:
    """The inverse of `to_json`, for a result a child process reported."""
    return CheckResult(
        target=document["target"],
        check=document["check"],
        passed=document["verdict"] == "PASS",
        summary=document["summary"],
        evidence=document["evidence"],
        failures=tuple(document["failures"]),
        seconds=float(document["seconds"]),
    )


def verdict(
    target: str, check: str, *, summary: str, evidence: dict[str, Any], failures: list[str], started: float
) -> CheckResult:
    """A result that passes exactly when there are no failures: no check can pass while reporting a fault."""
    return CheckResult(
        target=target,
        check=check,
        passed=not failures,
        summary=summary,
        evidence=evidence,
        failures=tuple(failures),
        seconds=time.perf_counter() - started,
    )


def crashed(target: str, check: str, error: BaseException, started: float) -> CheckResult:
    """A check that could not finish is a failed check, never a missing row."""
    failures = [f"the check crashed: {type(error).__name__}: {error}"]
    return verdict(target, check, summary="the check itself crashed", evidence={}, failures=failures, started=started)


Runner = Callable[[], CheckResult]

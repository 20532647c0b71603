"""`python -m verification [TARGET ...]`: run the targets (all by default), print one table, write the JSON
report, and exit 1 when any target fails (2 on a usage error)."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from testkit.paths import REPORT, ROOT
from testkit.process import forget_exported_settings
from verification.registry import BY_NAME, TARGETS, Target
from verification.report import failures, table, write_json
from verification.result import CheckResult, crashed, from_json


def run_target(target: Target) -> CheckResult:
    started = time.perf_counter()
    try:
        return target.run()
    except Exception as exc:  # a crashed check is a failed check, reported like any other
        return crashed(target.name, target.promise, exc, started)


def run_in_child(target: Target) -> CheckResult:
    """One target in its own `python -m verification` process; its JSON report carries the result back.

    A process, not a thread: the checks parse Python and JSON schemas, which CPython 3.11 does not allow in two
    threads at once ("AST constructor recursion depth mismatch"), and a process does not share the GIL.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="churnguard-verify-") as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "verification", target.name, "--report", str(report)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        try:
            return from_json(json.loads(report.read_text(encoding="utf-8"))["targets"][0])
        except (OSError, ValueError, KeyError, IndexError) as exc:
            return crashed(target.name, target.promise, RuntimeError(f"{exc}; {done.stderr[-1500:]}"), started)


def run(targets: Sequence[Target]) -> list[CheckResult]:
    """Background targets (waiting on subprocesses and the network) run beside the CPU-bound ones, in order."""
    foreground = [t for t in targets if not t.background]
    offload = [t for t in targets if t.background] if foreground else []
    with ThreadPoolExecutor(max_workers=max(1, len(offload))) as pool:
        children: dict[str, Future[CheckResult]] = {t.name: pool.submit(run_in_child, t) for t in offload}
        done = {t.name: run_target(t) for t in targets if t.name not in children}
        done.update({name: future.result() for name, future in children.items()})
    return [done[target.name] for target in targets]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verification", description=__doc__)
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"any of {', '.join(BY_NAME)} (default: all)")
    parser.add_argument("--report", type=Path, default=REPORT, help=f"JSON report path (default {REPORT.name})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.targets if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    logging.basicConfig(level=logging.ERROR)  # the service's own info/warning lines would bury the table
    forget_exported_settings()  # the committed service on its embedded defaults, whatever the shell exports
    chosen = [BY_NAME[name] for name in args.targets] if args.targets else list(TARGETS)
    results = run(chosen)
    print(table(results))
    details = failures(results)
    if details:
        print("\n" + details)
    write_json(results, args.report)
    print(f"\nreport: {args.report}")
    return 0 if all(result.passed for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())

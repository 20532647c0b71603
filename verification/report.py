"""One table for people, one JSON document for machines: the same results."""

from __future__ import annotations

import json
import platform
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from verification.result import CheckResult

MAX_FAILURES_SHOWN = 8


def table(results: Sequence[CheckResult]) -> str:
    rows = [("target", "check", "verdict", "seconds", "evidence")]
    rows += [(r.target, r.check, "PASS" if r.passed else "FAIL", f"{r.seconds:.1f}", r.summary) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + " | " + row[4]

    rule = "-+-".join("-" * width for width in widths) + "-+-" + "-" * 40
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def failures(results: Sequence[CheckResult]) -> str:
    blocks = []
    for result in results:
        if result.passed:
            continue
        shown = result.failures[:MAX_FAILURES_SHOWN]
        items = [textwrap.indent(failure, "    ").replace("    ", "  - ", 1) for failure in shown]
        more = len(result.failures) - len(shown)
        tail = [f"  ... and {more} more in the JSON report"] if more > 0 else []
        blocks.append("\n".join([f"{result.target}: {len(result.failures)} failure(s)", *items, *tail]))
    return "\n\n".join(blocks)


def write_json(results: Sequence[CheckResult], path: Path) -> None:
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "passed": all(result.passed for result in results),
        "targets": [result.to_json() for result in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

"""What contract fuzzing saw: examples per operation, mode and phase; a digest of every request sent (equal
digests prove a rerun sent the same requests); and each distinct failure once, with how to reproduce it."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from verification.explain import violations

_NOT_JSON = object()


@dataclass
class Finding:
    check: str
    operation: str
    mode: str
    status: int
    title: str
    message: str
    request: str  # a curl command that reproduces it
    answer: str
    violations: list[str]
    cause: str  # the service's own reason, from the problem document's `errors`
    count: int = 0

    def describe(self) -> str:
        text = (
            f"{self.check}: {self.operation} answered {self.status} to {self.count} {self.mode} request(s): "
            f"{self.title} ({' | '.join(line for line in self.message.splitlines() if line.strip())})"
        )
        if self.cause:
            text += f"; the service's reason: {self.cause}"
        if self.violations:
            text += f"; the request breaks the contract: {'; '.join(self.violations[:5])}"
        return f"{text}; e.g. {self.request[:700]} -> {self.answer[:300]}"


def _mode(case: Any) -> str:
    return str(case.meta.generation.mode.value) if case.meta else "explicit"


def _phase(case: Any) -> str:
    return str(case.meta.phase.name.value) if case.meta else "explicit"


def _cause(content: bytes) -> str:
    """'cross-field rule' or pydantic's message per rejected field kind, so different reasons stay apart."""
    body = _body(content)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    kinds = {"cross-field rule" if error.get("rule") else str(error.get("message")) for error in errors}
    return "; ".join(sorted(kinds))


def _body(raw: bytes | str | None) -> Any:
    try:
        return json.loads(raw) if raw else _NOT_JSON
    except ValueError:
        return _NOT_JSON


class Findings:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.by_key: dict[tuple[str, str, str, int, str, str], Finding] = {}
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.digest = hashlib.sha256()
        self.skipped: list[str] = []

    def count(self, case: Any, response: Any) -> None:
        self.counts[(case.operation.label, _mode(case), _phase(case))] += 1
        request = response.request
        body = request.body or b""
        self.digest.update(f"{request.method} {request.url} {len(body)}\n".encode())
        self.digest.update(body if isinstance(body, bytes) else str(body).encode())

    def record(self, check: str, case: Any, response: Any, failures: list[Any]) -> None:
        for failure in failures:
            cause = _cause(response.content)
            key = (check, case.operation.label, _mode(case), response.status_code, str(failure.title), cause)
            found = self.by_key.get(key)
            if found is None:
                found = self.by_key[key] = Finding(
                    check=check,
                    operation=case.operation.label,
                    mode=_mode(case),
                    status=response.status_code,
                    title=str(failure.title),
                    message=str(failure.message),
                    request=case.as_curl_command(headers=dict(response.request.headers)),
                    answer=response.content.decode(errors="replace"),
                    violations=self._violations(case, response),
                    cause=cause,
                )
            found.count += 1

    def _violations(self, case: Any, response: Any) -> list[str]:
        """For an accepted negative request: which declared constraints the accepted body breaks."""
        if not 200 <= response.status_code < 300:
            return []
        body = _body(response.request.body)
        operation = self.spec["paths"].get(case.operation.path, {}).get(case.method.lower(), {})
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body is _NOT_JSON or schema is None:
            return []
        return violations(body, schema, self.spec)

    def fuzzed(self, operation: str, mode: str) -> int:
        return self.counts[(operation, mode, "fuzzing")]

    def too_few(self, operation: str, mode: str, wanted: int, has_inputs: bool) -> list[str]:
        """Hypothesis stops at an exhausted input space; an operation with inputs must get every example."""
        got = self.fuzzed(operation, mode)
        if has_inputs and got < wanted:
            return [f"{operation} got only {got} {mode} examples, fewer than {wanted}"]
        if not has_inputs and mode == "positive" and got == 0:
            return [f"{operation} was never called"]
        return []

    def table(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for (operation, mode, phase), count in sorted(self.counts.items()):
            table.setdefault(operation, {})[f"{mode}/{phase}"] = count
        return table

    def total(self) -> int:
        return sum(self.counts.values())

    def failing_cases(self) -> int:
        return sum(finding.count for finding in self.by_key.values())

    def messages(self) -> list[str]:
        return [finding.describe() for finding in self.by_key.values()]

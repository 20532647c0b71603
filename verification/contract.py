"""Target 1, contract fuzzing: schemathesis generates positive and negative requests from the committed
`openapi.json` (the contract, not what the app happens to serve) and sends them in process to the ASGI app.

Per operation and mode, the same test `schema.parametrize()` builds under pytest (explicit examples, coverage
cases, then `MAX_EXAMPLES` generated ones, seeded per operation), run without pytest so one function can report.
Every response goes through six checks. `negative_data_rejection` expects 422, plus 400 only for a body that
cannot be parsed: schemathesis' default also accepts 5xx, 404, 405, 415 ..., which proves nothing.
`positive_data_acceptance` expects 200 (its default accepts 404 and 5xx too), for bodies whose schema
describes them (JSON; not CSV or Parquet, which JSON Schema sees as plain strings).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis import checks as builtin_checks
from schemathesis.core.control import SkipTest
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.generation import derive_operation_seed
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.python import asgi

from testkit.paths import OPENAPI
from verification.app import committed_app
from verification.contract_findings import Findings
from verification.result import CheckResult, verdict

TARGET = "contract"
SEED = 20240917
MAX_EXAMPLES = 300
MODES = ("positive", "negative")
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
)
CHECK = f"schemathesis {'+'.join(MODES)}, seed {SEED}, >= {MAX_EXAMPLES} examples/operation, {len(CHECK_NAMES)} checks"
# A CSV or Parquet body is a string to JSON Schema: "schema-valid" says nothing about its rows, so positive
# acceptance cannot be judged from the schema (every other check still runs; tests/scoring/test_http.py
# proves real exports are accepted).
NOT_SCHEMA_DESCRIBED = frozenset({"text/csv", "application/vnd.apache.parquet"})
_BUILTIN: dict[str, builtin_checks.CheckFunction] = {name: getattr(builtin_checks, name) for name in CHECK_NAMES}


def _parses(body: bytes | str | None) -> bool:
    if not body:
        return False
    try:
        json.loads(body, parse_constant=_refuse)  # NaN / Infinity are not JSON
    except ValueError:
        return False
    return True


def _refuse(token: str) -> None:
    raise ValueError(token)


def negative_data_rejection(ctx: builtin_checks.CheckContext, response: schemathesis.Response, case: Any) -> None:
    """The built-in check with 422 expected, except that 400 is the right answer to a body that does not parse."""
    sent = response.request.body
    if response.status_code == 400 and not _parses(sent if isinstance(sent, bytes | str) else None):
        return
    _BUILTIN["negative_data_rejection"](ctx, response, case)


CHECKS: dict[str, builtin_checks.CheckFunction] = {**_BUILTIN, "negative_data_rejection": negative_data_rejection}


def config(mode: str, seed: int, max_examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "generation": {"mode": mode, "max-examples": max_examples, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                "negative_data_rejection": {"expected-statuses": ["422"]},
                "positive_data_acceptance": {"expected-statuses": ["200"]},
            },
        }
    )


def _has_inputs(operation: Any) -> bool:
    containers = (operation.path_parameters, operation.query, operation.headers, operation.cookies, operation.body)
    return any(len(container) for container in containers)


def _fuzz(operation: Any, app: Any, findings: Findings) -> list[str]:
    project = operation.schema.config

    def fuzz_case(case: Any) -> None:
        response = case.call(app=app)
        for name, check in CHECKS.items():
            if name == "positive_data_acceptance" and case.media_type in NOT_SCHEMA_DESCRIBED:
                continue
            try:
                case.validate_response(response, checks=[check], transport_kwargs={"app": app})
            except FailureGroup as group:
                findings.record(name, case, response, list(group.exceptions))
        findings.count(case, response)

    test = create_test(
        operation=operation,
        test_func=fuzz_case,
        config=HypothesisTestConfig(
            project=project,
            modes=[HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING],
            settings=project.get_hypothesis_settings(operation=operation, phase="fuzzing", apply_ci_profile=False),
            apply_ci_profile=False,
            seed=derive_operation_seed(project.seed, operation.label),
        ),
    )
    try:
        test()
    except SkipTest as skipped:  # e.g. no negative input exists for an operation without parameters or body
        findings.skipped.append(f"{operation.label}: {skipped}")
    except Exception as exc:  # a fuzzer that stops early has not fuzzed: a failure, not a pass
        return [f"fuzzing {operation.label} stopped: {type(exc).__name__}: {str(exc)[:500]}"]
    return []


def check_contract(
    app: Any = None,
    spec_path: Path = OPENAPI,
    *,
    seed: int = SEED,
    max_examples: int = MAX_EXAMPLES,
    modes: Sequence[str] = MODES,
    operations: Sequence[str] | None = None,
) -> CheckResult:
    """Fuzz `app` (the committed service by default) against the contract at `spec_path`."""
    started = time.perf_counter()
    app = app if app is not None else committed_app()
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    findings = Findings(spec)
    failures: list[str] = []
    fuzzed: set[str] = set()
    try:
        for mode in modes:
            schema = schemathesis.openapi.from_path(spec_path, config=config(mode, seed, max_examples))
            for result in schema.get_all_operations():
                if not isinstance(result, Ok):
                    failures.append(f"the contract has an operation schemathesis cannot use: {result.err()}")
                    continue
                operation = result.ok()
                if operations is None or operation.label in operations:
                    fuzzed.add(operation.label)
                    failures += _fuzz(operation, app, findings)
                    failures += findings.too_few(operation.label, mode, max_examples, _has_inputs(operation))
    finally:
        asgi.shutdown_lifespans()  # the transport keeps app lifespans (and their model watchers) running otherwise
    failures += findings.messages()
    evidence = {
        "seed": seed,
        "max_examples": max_examples,
        "modes": list(modes),
        "checks": list(CHECK_NAMES),
        "negative_expected": "422; 400 only for unparseable bodies",
        "positive_expected": "200",
        "operations": sorted(fuzzed),
        "examples": findings.table(),
        "examples_total": findings.total(),
        "no_negative_inputs": findings.skipped,
        "requests_sha256": findings.digest.hexdigest(),
        "failing_cases": findings.failing_cases(),
    }
    summary = (
        f"{findings.total()} examples fuzzed over {len(fuzzed)} operations "
        f"(>= {max_examples} per mode per operation with inputs), {len(findings.by_key)} distinct failures"
    )
    return verdict(TARGET, CHECK, summary=summary, evidence=evidence, failures=failures, started=started)

"""Sabotage proofs for contract fuzzing: each fault the check exists for is planted, and the check must name it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field

import service.schemas
from service.dataplane import DataPlane
from service.errors import InvalidInput
from service.profile import CategoricalFeature, Condition, DataProfile, Feature, IntegerFeature
from testkit.paths import OPENAPI
from verification.app import committed_app
from verification.contract import _parses, check_contract

PREDICT = ["POST /predict"]


def _condition(condition: Condition) -> dict[str, Any]:
    value = {"type": "null"} if condition.is_null else {"const": condition.equals}
    return {"properties": {condition.field: value}, "required": [condition.field]}


@pytest.fixture
def contract(tmp_path: Path, profile: DataProfile) -> Path:
    """The committed contract; while it lacks the cross-field rules (reported as a service defect), with them added.

    Without the rules in the contract, nearly every generated body breaks one, so the service answers 422 for
    the rule before a range is ever looked at, and whether a range fault is reached is luck. With them, each
    negative body breaks exactly the constraint schemathesis chose. Once openapi.json carries the rules, this
    fixture returns the committed file unchanged.
    """
    spec = json.loads(OPENAPI.read_text(encoding="utf-8"))
    customer = spec["components"]["schemas"]["Customer"]
    if "allOf" in customer:
        return OPENAPI
    customer["allOf"] = [
        {"if": _condition(rule.when), "then": _condition(rule.then), "else": {"not": _condition(rule.then)}}
        for rule in profile.rules
    ]
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def type_only(original: Callable[[Feature], Any]) -> Callable[[Feature], Any]:
    """The fault: numbers checked for their type, their range forgotten (categories still checked)."""

    def field_type(spec: Feature) -> Any:
        if isinstance(spec, CategoricalFeature):
            return original(spec)
        kind: Any = (
            Annotated[int, Field(strict=True)]
            if isinstance(spec, IntegerFeature)
            else Annotated[float, Field(strict=True, allow_inf_nan=False)]
        )
        return kind | None if spec.nullable else kind

    return field_type


def _accepted(failures: tuple[str, ...], status: int) -> list[str]:
    return [f for f in failures if f.startswith(f"negative_data_rejection: POST /predict answered {status} ")]


def test_type_only_validation_is_caught_naming_the_out_of_range_value(
    monkeypatch: pytest.MonkeyPatch, contract: Path
) -> None:
    monkeypatch.setattr(service.schemas, "_field_type", type_only(service.schemas._field_type))
    result = check_contract(committed_app(), contract, operations=PREDICT, modes=("negative",))
    accepted = _accepted(result.failures, 200)
    assert not result.passed
    assert accepted, result.failures
    assert any("above the maximum" in f or "below the minimum" in f for f in accepted), accepted


def test_the_committed_validation_rejects_the_same_requests(contract: Path) -> None:
    """The control: the same seed and requests against the real validation accept nothing out of range."""
    result = check_contract(committed_app(), contract, operations=PREDICT, modes=("negative",))
    assert _accepted(result.failures, 200) == []
    assert result.evidence["examples"]["POST /predict"]["negative/fuzzing"] == 300


def test_a_400_for_a_parseable_invalid_body_is_not_taken_as_rejection(contract: Path) -> None:
    """Narrowed statuses: schemathesis' default would accept a 400 (or a 5xx) as "rejected"; 422 is the promise."""
    app = committed_app()

    async def everything_is_400(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "bad"}, status_code=400, media_type="application/problem+json")

    app.add_exception_handler(InvalidInput, everything_is_400)  # every 422 the validator raises becomes a 400
    result = check_contract(app, contract, operations=PREDICT, modes=("negative",), max_examples=20)
    assert _accepted(result.failures, 400), result.failures


def test_a_server_error_on_valid_input_is_caught(monkeypatch: pytest.MonkeyPatch, contract: Path) -> None:
    def broken(self: DataPlane, customers: Any) -> Any:
        raise RuntimeError("planted")

    monkeypatch.setattr(DataPlane, "score", broken)
    result = check_contract(committed_app(), contract, operations=PREDICT, modes=("positive",), max_examples=20)
    server_errors = [f for f in result.failures if f.startswith("not_a_server_error: POST /predict answered 500 ")]
    assert server_errors, result.failures


def test_the_same_seed_sends_the_same_requests_and_another_seed_does_not() -> None:
    def digest(seed: int) -> str:
        app: FastAPI = committed_app()
        result = check_contract(app, operations=PREDICT, modes=("negative",), max_examples=25, seed=seed)
        return str(result.evidence["requests_sha256"])

    first = digest(1)
    assert digest(1) == first
    assert digest(2) != first


@pytest.mark.parametrize(
    ("body", "parses"),
    [(b"\x00", False), (b"", False), (None, False), (b'{"tenure": NaN}', False), (b"{}", True), ('{"a": 1}', True)],
)
def test_400_is_allowed_only_for_a_body_that_does_not_parse(body: bytes | str | None, parses: bool) -> None:
    assert _parses(body) is parses

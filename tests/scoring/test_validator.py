"""One validator: every contract case through the request model and through the columnar path, compared."""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from scoring.cli import MAX_BATCH
from scoring.validate import NUMBER_PATTERN, ColumnarValidator
from service.errors import InvalidInput
from service.profile import CategoricalFeature
from service.schemas import build_customer_model
from service.validation import Validator
from testkit.customers import consistent, customer
from tests.scoring.kit import text
from tests.utils.profile import CATEGORICAL, INTEGER, NUMBER, PROFILE

CUSTOMER = build_customer_model(PROFILE)
VALIDATOR = Validator(PROFILE, CUSTOMER, MAX_BATCH)
NUMERIC = {**INTEGER, **NUMBER}
FIELDS = [*PROFILE.features, "customer_id"]


def _numeric_cases(name: str) -> list[Any]:
    spec = NUMERIC[name]
    low, high = spec.min, spec.max
    cases: list[Any] = [low, high, None, math.nan, math.inf, -math.inf, 1e999]
    if name in INTEGER:
        cases += [low - 1, high + 1, float(low), float(high), 0.5, low + 0.000001, 1e20]
    else:
        cases += [math.nextafter(low, -math.inf), math.nextafter(high, math.inf), round(low - 0.01, 2),
                  round(high + 0.01, 2), math.nextafter(low, math.inf), int(low) + 1]  # fmt: skip
    return cases


CASES: list[dict[str, Any]] = [customer(), customer(customer_id="7590-VHVEG"), customer(customer_id="a b"),
                               customer(customer_id="x" * 65), customer(customer_id=None)]  # fmt: skip
CASES += [consistent(customer(**{n: v}), PROFILE) if v is not None else customer(**{n: v})
          for n in NUMERIC for v in _numeric_cases(n)]  # fmt: skip
CASES += [customer(**{n: v}) for n in NUMERIC for v in _numeric_cases(n)]  # rules broken as well, unrepaired
CASES += [customer(**{n: v}) for n, spec in CATEGORICAL.items() for v in [*spec.allowed, "Maybe", "", "yes", " Yes"]]
CASES += [consistent(customer(**{n: v}), PROFILE) for n, spec in CATEGORICAL.items() for v in spec.allowed]
CASES += [customer(internet_service="No"), customer(phone_service="No", multiple_lines="No"), customer(tenure=0),
          customer(total_charges=None), customer(tenure=0, total_charges=None, gender="x"),
          customer(senior_citizen=2, tenure=-1, contract="Weekly", total_charges=math.nan)]  # fmt: skip


def _through_request_model(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The 422 `errors` of `POST /predict` for this customer (the JSON body, as a client sends it)."""
    body = json.dumps({k: v for k, v in case.items() if v is not None or k != "customer_id"}).encode()
    try:
        VALIDATOR.customer_rows(body)
    except InvalidInput as exc:
        return [error.model_dump(exclude_none=True) for error in exc.errors]
    return []


def test_every_contract_case_gets_the_same_verdict_and_words_on_both_paths() -> None:
    columns = {name: pa.array([text(case.get(name)) for case in CASES], pa.string()) for name in FIELDS}
    checked = ColumnarValidator(VALIDATOR).check(columns)
    invalid = 0
    for index, case in enumerate(CASES):
        expected = _through_request_model(case)
        got = [error.model_dump(exclude_none=True) for error in checked.errors.get(index, [])]
        assert got == expected, (case, got, expected)
        assert bool(checked.valid[index]) == (not expected)
        invalid += bool(expected)
    assert 100 < invalid < len(CASES) - 50  # both verdicts are exercised, many times


def test_valid_values_reach_the_scorer_exactly_as_json_parses_them() -> None:
    rows = [consistent(customer(**{n: v}), PROFILE) for n in NUMERIC for v in _numeric_cases(n)]
    rows = [row for row in rows if not _through_request_model(row)]
    columns = {name: pa.array([text(row.get(name)) for row in rows], pa.string()) for name in FIELDS}
    validator = ColumnarValidator(VALIDATOR)
    checked = validator.check(columns)
    assert checked.valid.all()
    for index, row in enumerate(rows):
        parsed = CUSTOMER.model_validate(row).__dict__
        for name, spec in PROFILE.features.items():
            if isinstance(spec, CategoricalFeature):
                assert spec.allowed[checked.codes[name][index]] == parsed[name]
            else:
                got = checked.numbers[name][index]
                assert (math.isnan(got) and parsed[name] is None) or got == parsed[name], (name, got, parsed[name])


@pytest.mark.parametrize("cell", [" 29.85", "29.85 ", "1e1", "+3", ".5e2"])
def test_csv_number_spellings_the_request_model_would_type_as_numbers(cell: str) -> None:
    # CSV has no types: a cell is read as the number it spells, as JSON would read the unquoted token.
    columns = {name: pa.array([text(customer().get(name))], pa.string()) for name in FIELDS}
    columns["monthly_charges"] = pa.array([cell])
    checked = ColumnarValidator(VALIDATOR).check(columns)
    expected = _through_request_model(customer(monthly_charges=float(cell)))
    assert [e.model_dump(exclude_none=True) for e in checked.errors.get(0, [])] == expected


SPELLINGS = ["1e5", "+3", ".5", "5.", "-0", "1E+05", "+.5e-3", "00012", "1_0", "0x10", "1e", "1.5.2", "1d5",
             "e5", ".", "+", "0.1f", "1,5", "\uff11", "\u0661", "Infinity", "inf", "nan", "1e999"]  # fmt: skip


@pytest.mark.parametrize("cell", SPELLINGS)
def test_arrow_reads_as_a_finite_number_only_what_the_number_pattern_spells(cell: str) -> None:
    # The columnar check takes Arrow's cast when it succeeds for a whole column; that is sound only while
    # Arrow's finite spellings are the pattern's (a newer Arrow taking "1_0" would fail here first).
    try:
        value = pc.cast(pa.array([cell]), pa.float64())[0].as_py()
    except pa.ArrowInvalid:
        return
    spelled = pc.match_substring_regex(pa.array([cell]), NUMBER_PATTERN)[0].as_py()
    assert spelled or not math.isfinite(value), (cell, value)

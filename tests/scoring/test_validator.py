"""One validator: every contract case through the request model and through the columnar path, compared."""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from scoring.validate import NUMBER_PATTERN, ColumnarValidator
from service.errors import InvalidInput
from service.profile import CategoricalFeature
from service.schemas import build_customer_model
from service.validation import MAX_BATCH, Validator
from testkit.customers import consistent, customer
from tests.scoring.kit import text
from tests.utils.contract_cases import CASES, numeric_cases
from tests.utils.profile import NUMERIC, PROFILE

CUSTOMER = build_customer_model(PROFILE)
VALIDATOR = Validator(PROFILE, CUSTOMER, MAX_BATCH)
FIELDS = [*PROFILE.features, "customer_id"]


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
    rows = [consistent(customer(**{n: v}), PROFILE) for n in NUMERIC for v in numeric_cases(n)]
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

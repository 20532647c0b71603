"""The vectorised batch check may only say "valid" where the request model says so, and then hands over
exactly the values the model would: every contract case, alone and in a batch, plus JSON-only oddities."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from service.errors import InvalidInput
from service.schemas import build_customer_model
from service.validation import Validator
from testkit.customers import customer
from tests.utils.contract_cases import CASES
from tests.utils.profile import PROFILE

VALIDATOR = Validator(PROFILE, build_customer_model(PROFILE), 10_000)
ODD: list[Any] = [
    customer(tenure=True), customer(senior_citizen=False), customer(tenure="5"), customer(monthly_charges="29.85"),
    customer(tenure=2**60), customer(total_charges=10**400), customer(total_charges=[1.0]),
    customer(contract=["Month-to-month"]),
    customer(gender={"x": 1}), customer(customer_id=7), customer(customer_id="ok\n"), {**customer(), "extra": 1},
    {k: v for k, v in customer().items() if k != "tenure"}, "a row", None, [customer()], 5,
]  # fmt: skip


def _model_accepts(rows: list[Any]) -> bool:
    try:
        VALIDATOR.rows(rows, "customers")
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize("case", CASES + ODD)
def test_the_fast_check_accepts_a_row_only_if_the_model_does(case: Any) -> None:
    for rows in ([case], [customer(), case], [case, customer()]):
        columns = VALIDATOR._fast.columns(rows)
        if columns is not None:
            assert _model_accepts(rows), rows
            expected = VALIDATOR.to_batch(VALIDATOR.rows(rows, "customers")).columns
            for name, values in expected.items():
                np.testing.assert_array_equal(columns[name], values, err_msg=name)


def test_valid_batches_take_the_fast_path_and_match_the_model_exactly() -> None:
    valid = [case for case in CASES if _model_accepts([case])]
    assert len(valid) > 100
    assert VALIDATOR._fast.columns(valid) is not None  # the fast path is really exercised
    batch = VALIDATOR.batch(json.dumps({"customers": valid}).encode())
    model = VALIDATOR.to_batch(VALIDATOR.rows(valid, "customers"))
    assert batch.ids == model.ids
    for name, values in model.columns.items():
        np.testing.assert_array_equal(batch.columns[name], values, err_msg=name)


def test_a_batch_with_one_bad_row_is_refused_whole_with_the_models_words() -> None:
    rows = [customer(), customer(tenure=-1), customer()]
    with pytest.raises(InvalidInput) as refused:
        VALIDATOR.batch(json.dumps({"customers": rows}).encode())
    assert [error.field for error in refused.value.errors] == ["customers[1].tenure"]

"""The vectorised batch check may only say "valid" where the request model says so, and then hands over
exactly the values the model would: every contract case, alone and in a batch, plus JSON-only oddities."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import InvalidInput
from service.schemas import build_customer_model
from service.validation import Batch, Validator
from testkit.customers import customer
from tests.utils.contract_cases import CASES
from tests.utils.profile import NUMBER, PROFILE

VALIDATOR = Validator(PROFILE, build_customer_model(PROFILE), 10_000)
ODD: list[Any] = [
    customer(tenure=True), customer(senior_citizen=False), customer(tenure="5"), customer(monthly_charges="29.85"),
    customer(tenure=2**60), customer(tenure=10**400), customer(total_charges=10**400), customer(total_charges=[1.0]),
    customer(contract=["Month-to-month"]), customer(tenure=18.5),
    customer(gender={"x": 1}), customer(customer_id=7), customer(customer_id="ok\n"), customer(customer_id=""),
    {**customer(), "extra": 1}, {k: v for k, v in customer().items() if k != "tenure"}, "a row", None,
    [customer()], 5,
]  # fmt: skip
ROW = json.dumps(customer())
# Bodies only raw JSON can hold: a repeated key (the last one counts, for both parsers), escapes, a stray
# envelope key, byte-order marks, trailing bytes, sizes outside the batch limits.
BODIES = [
    '{"customers": [' + ROW[:-1] + ', "tenure": 5, "tenure": 7}]}',
    '{"customers": [' + ROW[:-1] + ', "tenure": 500, "tenure": 7}]}',
    '{"customers": [' + ROW[:-1] + ', "tenure": 7, "tenure": 500}]}',
    '{"customers": [' + ROW.replace('"Female"', '"F\\u0065male"') + "]}",
    '{"customers": [' + ROW.replace('"Female"', '"F\\ud800male"') + "]}",
    '{"customers": [' + ROW + '], "extra": 1}',
    '{"customers": [' + ROW + '], "customers": []}',
    '\ufeff{"customers": [' + ROW + "]}",
    '{"customers": [' + ROW + "]} x",
    ' \n{"customers" : [ ' + ROW + " ] }\n",
    '{"customers": []}',
    "[" + ROW + "]",
    "",
]


def _model_batch(body: bytes) -> Batch | None:
    """The verdict without the fast path: the generic parse, then the request model row by row."""
    try:
        rows = VALIDATOR.parse(body)["customers"]
        return VALIDATOR.to_batch(VALIDATOR.rows(rows, "customers"))
    except (InvalidInput, TypeError, KeyError):
        return None


def _assert_same(fast: tuple[dict[str, Any], list[str | None]], model: Batch | None, body: bytes) -> None:
    assert model is not None, body[:300]
    columns, ids = fast
    assert ids == model.ids
    for name, values in model.columns.items():
        np.testing.assert_array_equal(columns[name], values, err_msg=name)


@pytest.mark.parametrize("case", CASES + ODD)
def test_the_fast_check_accepts_a_row_only_if_the_model_does(case: Any) -> None:
    for rows in ([case], [customer(), case], [case, customer()]):
        body = json.dumps({"customers": rows}).encode()
        fast = VALIDATOR._fast.batch(body)
        if fast is not None:
            _assert_same(fast, _model_batch(body), body)


@pytest.mark.parametrize("text", BODIES)
def test_json_oddities_get_the_models_verdict(text: str) -> None:
    body = text.encode("utf-8", "surrogatepass")
    fast = VALIDATOR._fast.batch(body)
    if fast is not None:
        _assert_same(fast, _model_batch(body), body)
        assert '"extra"' not in text  # the envelope holds nothing else
        assert text.count('"customers"') == 1


def test_a_whole_float_is_an_integer_with_the_models_bits() -> None:
    body = json.dumps({"customers": [customer(senior_citizen=1.0), customer(senior_citizen=-0.0)]}).encode()
    fast = VALIDATOR._fast.batch(body)
    assert fast is not None
    assert fast[0]["senior_citizen"].tobytes() == np.array([1.0, 0.0]).tobytes()  # -0.0 read as the integer 0


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_numbers_are_read_to_the_same_bits_as_the_generic_parser(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(NUMBER)))
    low, high = NUMBER[name].min, NUMBER[name].max
    exact = Decimal(repr(low)), Decimal(repr(high))
    text = data.draw(st.one_of(
        st.floats(low, high).map(repr),
        st.decimals(*exact, places=25).map(str),  # more digits than a float holds: rounding must agree
        st.decimals(*exact, places=2).map(lambda d: f"{d.scaleb(2):.0f}e-2"),
    ))  # fmt: skip
    body = json.dumps({"customers": [customer(**{name: "@"})]}).replace('"@"', text).encode()
    fast = VALIDATOR._fast.batch(body)
    assert fast is not None, text
    assert fast[0][name].tobytes() == np.array([orjson.loads(text)], dtype=np.float64).tobytes(), text


def test_valid_batches_take_the_fast_path_and_match_the_model_exactly() -> None:
    valid = [case for case in CASES if _model_batch(json.dumps({"customers": [case]}).encode()) is not None]
    assert len(valid) > 100
    body = json.dumps({"customers": valid}).encode()
    fast = VALIDATOR._fast.batch(body)
    assert fast is not None  # the fast path is really exercised
    _assert_same(fast, _model_batch(body), body)
    batch = VALIDATOR.batch(memoryview(body))  # as the offload worker hands it over
    assert batch.ids == fast[1]


def test_a_batch_with_one_bad_row_is_refused_whole_with_the_models_words() -> None:
    rows = [customer(), customer(tenure=-1), customer()]
    with pytest.raises(InvalidInput) as refused:
        VALIDATOR.batch(json.dumps({"customers": rows}).encode())
    assert [error.field for error in refused.value.errors] == ["customers[1].tenure"]

"""The contract cases every validation path is compared on: valid rows, each boundary, each kind of invalid
value, each cross-field rule (kept and broken)."""

from __future__ import annotations

import math
from typing import Any

from testkit.customers import consistent, customer
from tests.utils.profile import CATEGORICAL, INTEGER, NUMERIC, PROFILE


def numeric_cases(name: str) -> list[Any]:
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
          for n in NUMERIC for v in numeric_cases(n)]  # fmt: skip
CASES += [customer(**{n: v}) for n in NUMERIC for v in numeric_cases(n)]  # rules broken as well, unrepaired
CASES += [customer(**{n: v}) for n, spec in CATEGORICAL.items() for v in [*spec.allowed, "Maybe", "", "yes", " Yes"]]
CASES += [consistent(customer(**{n: v}), PROFILE) for n, spec in CATEGORICAL.items() for v in spec.allowed]
CASES += [customer(internet_service="No"), customer(phone_service="No", multiple_lines="No"), customer(tenure=0),
          customer(total_charges=None), customer(tenure=0, total_charges=None, gender="x"),
          customer(senior_citizen=2, tenure=-1, contract="Weekly", total_charges=math.nan)]  # fmt: skip

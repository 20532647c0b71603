"""Reasons: the three features that raise a customer's risk the most, each with its contribution.

For the logistic-regression fast path they are exact: coefficient times (transformed value minus the
training split's mean of that column), in logit space, summed over a categorical feature's one-hot
columns. For any other estimator there is no exact per-feature split of the score, so reasons are
"not available" rather than an approximation presented as fact.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from service.encoding import FastEncoder
from service.reference import Reference

REASONS = 3


class Explainer:
    def __init__(self, encoder: FastEncoder, reference: Reference | None) -> None:
        groups = encoder.column_groups()
        self.features = [name for name, _, _ in groups]
        self.starts = np.array([start for _, start, _ in groups], dtype=np.intp)
        coefficients = encoder.coefficients
        self.available = coefficients is not None and reference is not None and len(reference.baseline) == encoder.width
        self.why_not = (
            None if self.available
            else "the estimator is not logistic regression" if coefficients is None
            else "the model directory has no reference distribution"
        )  # fmt: skip
        self.coefficients = coefficients if coefficients is not None else np.zeros(encoder.width)
        self.baseline = np.asarray(reference.baseline if reference else np.zeros(encoder.width), dtype=np.float64)

    def contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rows x input features, in logit space; they sum to the logit minus the logit at the baseline."""
        return np.add.reduceat((matrix - self.baseline) * self.coefficients, self.starts, axis=1)

    def reasons(self, matrix: NDArray[np.float64], text: Mapping[str, pa.Array]) -> dict[str, pa.Array]:
        """`reason_k` ("contract=Month-to-month") and `reason_k_logit` for k = 1..3; empty when fewer than
        k features raise the risk."""
        rows = matrix.shape[0]
        if not self.available or rows == 0:
            return {}
        contributions = self.contributions(matrix)
        top = np.argsort(-contributions, axis=1, kind="stable")[:, :REASONS]
        values = np.take_along_axis(contributions, top, axis=1)
        labels = pa.concat_arrays(
            [pc.binary_join_element_wise(f"{name}=", _shown(text[name]), "") for name in self.features]
        )
        positions = np.arange(rows)
        out: dict[str, pa.Array] = {}
        for k in range(REASONS):
            raises = values[:, k] > 0
            picked = pc.take(labels, pa.array(top[:, k] * rows + positions))
            out[f"reason_{k + 1}"] = pc.if_else(pa.array(raises), picked, pa.scalar(None, pa.string()))
            out[f"reason_{k + 1}_logit"] = pa.array(np.round(values[:, k], 4), mask=~raises)
        return out


def _shown(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(trimmed, ""), "blank", trimmed)

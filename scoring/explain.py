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
        # Subtracted per feature after the sum: one pass over the matrix instead of two.
        self.at_baseline = np.add.reduceat(self.baseline * self.coefficients, self.starts)

    def _labels(self, features: NDArray[np.intp], raises: NDArray[np.bool_], text: Mapping[str, pa.Array]) -> pa.Array:
        """ "feature=value" for each row's chosen feature: only the chosen cells are formatted (3 per row, not 19)."""
        rows = np.flatnonzero(raises)
        chosen = features[rows]
        order = np.argsort(chosen, kind="stable")
        pieces: list[pa.Array] = []
        for index in np.unique(chosen).tolist():
            name = self.features[index]
            picked = rows[order][chosen[order] == index]
            pieces.append(pc.binary_join_element_wise(f"{name}=", _shown(pc.take(text[name], pa.array(picked))), ""))
        labels = pa.concat_arrays(pieces) if pieces else pa.array([], pa.string())
        # labels are grouped by feature (rows[order]); put each back at its row, null where nothing raises.
        position = np.full(features.size, -1, dtype=np.int64)
        position[rows[order]] = np.arange(rows.size)
        return pc.take(labels, pa.array(position, mask=position < 0))

    def contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rows x input features, in logit space; they sum to the logit minus the logit at the baseline."""
        return np.add.reduceat(matrix * self.coefficients, self.starts, axis=1) - self.at_baseline

    def reasons(self, matrix: NDArray[np.float64], text: Mapping[str, pa.Array]) -> dict[str, pa.Array]:
        """`reason_k` ("contract=Month-to-month") and `reason_k_logit` for k = 1..3; empty when fewer than
        k features raise the risk."""
        rows = matrix.shape[0]
        if not self.available or rows == 0:
            return {}
        contributions = self.contributions(matrix)
        top = np.argsort(-contributions, axis=1, kind="stable")[:, :REASONS]
        values = np.take_along_axis(contributions, top, axis=1)
        out: dict[str, pa.Array] = {}
        for k in range(REASONS):
            raises = values[:, k] > 0
            out[f"reason_{k + 1}"] = self._labels(top[:, k], raises, text)
            out[f"reason_{k + 1}_logit"] = pa.array(np.round(values[:, k], 4), mask=~raises)
        return out


def _shown(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(trimmed, ""), "blank", trimmed)

"""Reasons: the three features that raise a customer's risk the most, each with its contribution.

For the logistic-regression fast path they are exact: coefficient times (transformed value minus the
training split's mean of that column), in logit space, summed over a categorical feature's one-hot
columns. For any other estimator there is no exact per-feature split of the score, so reasons are
"not available" rather than an approximation presented as fact.

Labels ("contract=Month-to-month") are dictionary-encoded: every category and every whole number an
integer feature may take is formatted once, a decimal value only when it is chosen; a row's reason is an
index into those labels, not a string joined per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from service.encoding import FastEncoder
from service.profile import CategoricalFeature, DataProfile, IntegerFeature
from service.reference import Reference

REASONS = 3
BLANK = "blank"  # how a null (a blank TotalCharges) reads in a reason


class Explainer:
    def __init__(self, encoder: FastEncoder, reference: Reference | None, profile: DataProfile) -> None:
        groups = encoder.column_groups()
        self.profile = profile
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
        # Labels that never change: every category, every whole number an integer feature may take.
        self._fixed: list[str] = []
        self._first: dict[str, int] = {}  # feature -> index of its first fixed label
        self._low: dict[str, int] = {}  # integer feature -> the value its first label shows
        for name, spec in profile.features.items():
            if isinstance(spec, CategoricalFeature):
                values = [str(v) for v in spec.allowed]
            elif isinstance(spec, IntegerFeature):
                values = [str(v) for v in range(int(spec.min), int(spec.max) + 1)]
                self._low[name] = int(spec.min)
            else:
                continue
            self._first[name] = len(self._fixed)
            self._fixed += [f"{name}={v}" for v in values]

    def contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rows x input features, in logit space; they sum to the logit minus the logit at the baseline."""
        return np.add.reduceat(matrix * self.coefficients, self.starts, axis=1) - self.at_baseline

    def _label_indices(
        self,
        positions: NDArray[np.intp],
        feature: NDArray[np.intp],
        values: Mapping[str, NDArray[Any]],
        labels: list[str],
    ) -> NDArray[np.int32]:
        """The label index of each row at `positions`, for the feature it names; labels of decimal values are
        appended to `labels` as they are needed (only the chosen cells are formatted, each value once)."""
        out = np.zeros(feature.size, dtype=np.int32)
        for j in np.unique(feature).tolist():
            name = self.features[j]
            rows = np.flatnonzero(feature == j)
            cells = values[name][positions[rows]]
            if name in self._first:
                out[rows] = self._first[name] + (cells.astype(np.int64) - self._low.get(name, 0))
                continue
            distinct, inverse = np.unique(cells, return_inverse=True)
            out[rows] = len(labels) + inverse.reshape(-1)
            labels += [f"{name}={BLANK if np.isnan(v) else repr(v)}" for v in distinct.tolist()]
        return out

    def reasons(self, matrix: NDArray[np.float64], values: Mapping[str, NDArray[Any]]) -> dict[str, pa.Array]:
        """`reason_k` ("contract=Month-to-month") and `reason_k_logit` for k = 1..3; empty when fewer than
        k features raise the risk. `values`: each feature of the scored rows (numbers; a category as its
        index in the profile's `allowed`)."""
        rows = matrix.shape[0]
        if not self.available or rows == 0:
            return {}
        contributions = self.contributions(matrix)
        every = np.arange(rows)
        labels = list(self._fixed)
        slots: list[tuple[NDArray[np.int32], NDArray[np.float64], NDArray[np.bool_]]] = []
        for _ in range(REASONS):
            # argmax takes the first of equal values: the order of a stable sort, at a third of its cost.
            top = np.argmax(contributions, axis=1)
            value = contributions[every, top]
            contributions[every, top] = -np.inf
            raises = value > 0
            slots.append((self._label_indices(np.flatnonzero(raises), top[raises], values, labels), value, raises))
        dictionary = pa.array(labels, pa.string())
        out: dict[str, pa.Array] = {}
        for k, (chosen, value, raises) in enumerate(slots, start=1):
            indices = np.zeros(rows, dtype=np.int32)
            indices[raises] = chosen
            out[f"reason_{k}"] = pa.DictionaryArray.from_arrays(pa.array(indices, mask=~raises), dictionary)
            out[f"reason_{k}_logit"] = pa.array(np.round(value, 4), mask=~raises)
        return out

"""Drift of the week against the model's training split: PSI per feature and the share at the bounds.

Counts are accumulated chunk by chunk (memory does not grow with the input); PSI is computed at the end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.profile import CategoricalFeature, DataProfile
from service.reference import Reference, numeric_counts

WATCH, ACT = 0.1, 0.25
# The counts of an accumulator as plain JSON (they cross from a Spark executor to the driver): "rows", and per
# feature "counts", "at_bounds" (numeric only) and "beyond".
DriftState = dict[str, Any]
EPSILON = 1e-4  # share floor: an empty bin on either side would make PSI infinite


def psi(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    e = np.maximum(expected, EPSILON)
    a = np.maximum(actual, EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def status(value: float) -> str:
    return "act" if value >= ACT else "watch" if value >= WATCH else "ok"


class DriftAccumulator:
    def __init__(self, profile: DataProfile, reference: Reference) -> None:
        self.profile = profile
        self.reference = reference
        self.rows = 0
        self.counts: dict[str, NDArray[np.int64]] = {}
        self.at_bounds: dict[str, int] = {}
        self.beyond: dict[str, int] = dict.fromkeys(profile.features, 0)
        for name, spec in profile.features.items():
            if isinstance(spec, CategoricalFeature):
                self.counts[name] = np.zeros(len(spec.allowed), dtype=np.int64)
            else:
                self.counts[name] = np.zeros(len(reference.numeric[name].edges) + 2, dtype=np.int64)
                self.at_bounds[name] = 0

    def add(self, numbers: Mapping[str, NDArray[np.float64]], codes: Mapping[str, NDArray[np.int64]]) -> None:
        """One chunk's scored rows."""
        self.rows += len(next(iter(codes.values())))
        for name, spec in self.profile.features.items():
            if isinstance(spec, CategoricalFeature):
                self.counts[name] += np.bincount(codes[name], minlength=len(spec.allowed))
            else:
                values = numbers[name]
                self.counts[name] += numeric_counts(values, self.reference.numeric[name].edges)
                self.at_bounds[name] += int(np.count_nonzero((values <= spec.min) | (values >= spec.max)))

    def add_beyond(self, field: str, count: int) -> None:
        """Rejected cells beyond the profile's bounds (they are not scored, but they are drift too)."""
        self.beyond[field] += count

    def state(self) -> DriftState:
        return {
            "rows": self.rows,
            "counts": {name: counts.tolist() for name, counts in self.counts.items()},
            "at_bounds": dict(self.at_bounds),
            "beyond": dict(self.beyond),
        }

    def add_state(self, state: DriftState) -> None:
        """Another accumulator's counts (of other rows), e.g. one chunk's or one Spark partition's."""
        self.rows += state["rows"]
        for name, counts in state["counts"].items():
            self.counts[name] += np.asarray(counts, dtype=np.int64)
        for name, count in state["at_bounds"].items():
            self.at_bounds[name] += count
        for name, count in state["beyond"].items():
            self.beyond[name] += count

    def result(self, rejected_rows: int) -> dict[str, Any]:
        features: dict[str, Any] = {}
        seen = max(self.rows, 1)
        for name, spec in self.profile.features.items():
            actual = self.counts[name] / seen
            entry: dict[str, Any]
            if isinstance(spec, CategoricalFeature):
                shares = self.reference.categorical[name].shares
                expected = np.array([shares.get(value, 0.0) for value in spec.allowed])
                entry = {
                    "kind": "categorical",
                    "shares": dict(zip(spec.allowed, actual.round(6).tolist(), strict=True)),
                }
            else:
                expected = np.asarray(self.reference.numeric[name].shares)
                entry = {
                    "kind": "numeric",
                    "at_bounds_share": round(self.at_bounds[name] / seen, 6),
                    "training_at_bounds_share": round(self.reference.numeric[name].at_bounds_share, 6),
                }
            value = psi(expected, actual) if self.rows else math.nan
            entry |= {
                "psi": round(value, 6),
                "status": status(value) if self.rows else "not available",
                "beyond_bounds_share": round(self.beyond[name] / max(self.rows + rejected_rows, 1), 6),
            }
            features[name] = entry
        flagged = {name: entry["status"] for name, entry in features.items() if entry["status"] in ("watch", "act")}
        return {"available": True, "thresholds": {"watch": WATCH, "act": ACT}, "flagged": flagged, "features": features}


NOT_AVAILABLE: dict[str, Any] = {
    "available": False,
    "reason": "the model directory has no reference distribution (promoted before it existed): re-promote it",
}

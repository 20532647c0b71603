"""Realised quality of one list: what its ranks and probabilities said, against what the customers did.

Pure numbers on arrays (rank, probability, churned, called); `scoring.outcomes` joins the files.
- top 10%: the list's own top-10% band (ranks 1..ceil(0.1 x scored)), among customers with an outcome;
- called: the customers phoned (`contacted`), else the list handed out (ranks 1..listed);
- lift: precision over the base rate of all customers with an outcome;
- ECE: 10 equal-width probability bins, |mean probability - churn rate| weighted by the bin's share.
The gate: a seeded bootstrap of precision in the top 10% (its customers resampled with replacement); the
list is flagged when the whole interval lies below the model's held-out figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

ECE_BINS = 10


@dataclass(frozen=True)
class Graded:
    rank: NDArray[np.int64]
    probability: NDArray[np.float64]
    churned: NDArray[np.int64]
    called: NDArray[np.bool_]


def _share(part: NDArray[np.int64]) -> float | None:
    return float(part.mean()) if part.size else None


def reliability(probability: NDArray[np.float64], churned: NDArray[np.int64]) -> list[dict[str, Any]]:
    """Per 0.1 of probability: customers, their mean probability and their churn rate (empty bins left out)."""
    index = np.minimum((probability * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    bins = []
    for b in range(ECE_BINS):
        inside = index == b
        if inside.any():
            bins.append({"low": b / ECE_BINS, "high": (b + 1) / ECE_BINS, "count": int(inside.sum()),
                         "mean_probability": float(probability[inside].mean()),
                         "churn_rate": float(churned[inside].mean())})  # fmt: skip
    return bins


def expected_calibration_error(bins: list[dict[str, Any]]) -> float:
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] / total * abs(b["mean_probability"] - b["churn_rate"]) for b in bins)) if total else 0.0


def figures(graded: Graded, top10: int) -> dict[str, Any]:
    """Every realised figure of one set of customers (all, contacted, or uncontacted)."""
    # Imported here: scikit-learn costs ~1 s to import, and the weekly command (same CLI) never needs an AUC.
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    y, p = graded.churned, graded.probability
    churners = int(y.sum())
    base = _share(y)
    out: dict[str, Any] = {"customers": int(y.size), "churners": churners, "base_rate": base}
    for name, mask in (("top10", graded.rank <= top10), ("called", graded.called)):
        precision = _share(y[mask])
        out[name] = {
            "customers": int(mask.sum()),
            "precision": precision,
            "recall": float(y[mask].sum() / churners) if churners else None,
            "lift": precision / base if precision is not None and base else None,
        }
    both = 0 < churners < y.size
    bins = reliability(p, y) if y.size else []
    out["roc_auc"] = float(roc_auc_score(y, p)) if both else None
    out["brier"] = float(np.mean((p - y) ** 2)) if y.size else None
    out["ece"] = expected_calibration_error(bins) if y.size else None
    out["reliability"] = bins
    return out


@dataclass(frozen=True)
class Verdict:
    basis: str  # which customers the gate measured: "all" or "uncontacted"
    customers: int
    realised: float | None
    low: float | None
    high: float | None
    held_out: float
    level: float
    resamples: int
    seed: int

    @property
    def degraded(self) -> bool:
        return self.high is not None and self.high < self.held_out

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "degraded": self.degraded}


def bootstrap_precision(
    churned: NDArray[np.int64], held_out: float, *, basis: str, seed: int, resamples: int, level: float
) -> Verdict:
    """`churned`: the outcomes of the top-10% customers measured. Their precision, and a percentile interval
    from `resamples` resamples drawn by our own seeded generator."""
    if churned.size == 0:
        return Verdict(basis, 0, None, None, None, held_out, level, resamples, seed)
    rng = np.random.default_rng(seed)
    means = churned[rng.integers(0, churned.size, size=(resamples, churned.size))].mean(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Verdict(basis, int(churned.size), float(churned.mean()), float(low), float(high), held_out, level,
                   resamples, seed)  # fmt: skip

"""Held-out metrics, including the ones the retention team lives by: precision and recall in the top 10% by risk."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

TOP_FRACTION = 0.10


def top_fraction_mask(probabilities: NDArray[np.float64], fraction: float = TOP_FRACTION) -> NDArray[np.bool_]:
    """The highest-risk `fraction` of customers; ties broken by position so the cut is deterministic."""
    count = max(1, round(fraction * len(probabilities)))
    order = np.argsort(-probabilities, kind="stable")
    mask = np.zeros(len(probabilities), dtype=bool)
    mask[order[:count]] = True
    return mask


def compute_metrics(
    y_true: NDArray[np.int64], probabilities: NDArray[np.float64], threshold: float
) -> dict[str, float]:
    predictions = (probabilities >= threshold).astype(np.int64)
    top = top_fraction_mask(probabilities)
    positives = int(y_true.sum())
    return {
        "roc_auc": float(roc_auc_score(y_true, probabilities)),
        "pr_auc": float(average_precision_score(y_true, probabilities)),
        "f1": float(f1_score(y_true, predictions, zero_division=0)),
        "precision": float(precision_score(y_true, predictions, zero_division=0)),
        "recall": float(recall_score(y_true, predictions, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, predictions)),
        "brier": float(brier_score_loss(y_true, probabilities)),
        "log_loss": float(log_loss(y_true, probabilities, labels=[0, 1])),
        "precision_top10": float(y_true[top].mean()),
        "recall_top10": float(y_true[top].sum() / positives) if positives else 0.0,
    }

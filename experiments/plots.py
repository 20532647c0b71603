"""Diagnostic plots as PNG files: ROC, precision-recall and calibration per run; an overlay per comparison.

Built on `matplotlib.figure.Figure` directly, never pyplot: no global figure state, no GUI backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

PLOT_FILES = ("roc.png", "pr.png", "calibration.png")


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    return path


def _square(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    return figure, axes


def write_run_plots(y_true: NDArray[np.int64], probabilities: NDArray[np.float64], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    roc, roc_axes = _square("ROC (held-out split)", "false positive rate", "true positive rate")
    fpr, tpr, _ = roc_curve(y_true, probabilities)
    roc_axes.plot(fpr, tpr, label="model")
    roc_axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    roc_axes.legend(loc="lower right")

    pr, pr_axes = _square("Precision-recall (held-out split)", "recall", "precision")
    precision, recall, _ = precision_recall_curve(y_true, probabilities)
    pr_axes.plot(recall, precision, label="model")
    pr_axes.axhline(float(y_true.mean()), linestyle=":", color="grey", label="churn rate")
    pr_axes.legend(loc="upper right")

    calibration, cal_axes = _square("Calibration (10 bins)", "mean predicted probability", "observed churn rate")
    observed, predicted = calibration_curve(y_true, probabilities, n_bins=10)
    cal_axes.plot(predicted, observed, marker="o", label="model")
    cal_axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    cal_axes.legend(loc="upper left")

    return [_save(figure, directory / name) for figure, name in zip((roc, pr, calibration), PLOT_FILES, strict=True)]


def write_comparison_plot(
    y_true: NDArray[np.int64],
    probabilities: Mapping[str, NDArray[np.float64]],
    metrics: Mapping[str, Mapping[str, float]],
    path: Path,
) -> Path:
    """Overlaid ROC curves (left) and every metric side by side (right), one colour per config."""
    figure = Figure(figsize=(12, 5))
    roc_axes, bar_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    roc_axes.set(title="ROC on the same test rows", xlabel="false positive rate", ylabel="true positive rate")
    for label, scores in probabilities.items():
        fpr, tpr, _ = roc_curve(y_true, scores)
        roc_axes.plot(fpr, tpr, label=f"{label} (AUC {metrics[label]['roc_auc']:.4f})")
    roc_axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    roc_axes.legend(loc="lower right")

    names = list(next(iter(metrics.values())))
    positions = np.arange(len(names))
    width = 0.8 / len(metrics)
    for offset, (label, values) in enumerate(metrics.items()):
        bar_axes.bar(positions + offset * width, [values[name] for name in names], width, label=label)
    bar_axes.set_xticks(positions + width * (len(metrics) - 1) / 2, names, rotation=30, ha="right")
    bar_axes.set(title="Held-out metrics", ylim=(0, 1))
    bar_axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save(figure, path)

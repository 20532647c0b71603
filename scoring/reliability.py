"""The reliability diagram of one graded list: churn rate against mean probability per 0.1 bin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt


def draw(report: dict[str, Any], path: Path) -> Path:
    figure, (curve, counts) = plt.subplots(2, 1, figsize=(5.0, 5.5), height_ratios=[3, 1], sharex=True)
    curve.plot([0, 1], [0, 1], color="#999999", linestyle=":", label="perfectly calibrated")
    for name, colour in (("all", "#4477aa"), ("uncontacted", "#228833"), ("contacted", "#cc6677")):
        bins = report.get(name, {}).get("reliability", [])
        if bins:
            curve.plot([b["mean_probability"] for b in bins], [b["churn_rate"] for b in bins], marker="o",
                       color=colour, label=f"{name} (ECE {report[name]['ece']:.3f})")  # fmt: skip
    curve.set_ylabel("churn rate")
    curve.set_title(f"{report['week']} {report['role']} v{report['model_version']}: reliability")
    curve.legend(fontsize=8)
    bins = report["all"]["reliability"]
    counts.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["count"] for b in bins], width=0.09, color="#4477aa")
    counts.set_xlabel("predicted churn probability")
    counts.set_ylabel("customers")
    figure.savefig(path, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return path

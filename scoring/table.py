"""The short table `python -m scoring weekly` prints: the summary at a glance."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_table(summary: dict[str, Any], out: Path) -> str:
    rows = summary["rows"]
    model = summary["model"]
    source = summary["input"]
    digest = f"sha256 {source['sha256'][:16]}…" if source["sha256"] else "no sha256 (not one local file)"
    engine = summary.get("engine", {}).get("name", "local")
    read_by = source["format"] if engine == "local" else f"{source['format']}, read by {engine}"
    lines = [
        f"input      {source['name']}  {digest}  ({read_by})",
        f"model      version {model['version']} ({model['estimator']})  model sha256 {model['model_sha256'][:16]}…",
        f"rows       read {rows['read']}  scored {rows['scored']}  rejected {rows['rejected']}"
        f" ({summary['rejected_share']:.2%}, limit {summary['max_rejected_share']:.2%})"
        f"  duplicates {rows['duplicates']}",
        f"threshold  {summary['threshold']}   listed {rows['listed']}",
        "band       size     listed   probability",
    ]
    for band in summary["bands"]:
        span = f"{band['min_probability']:.3f}-{band['max_probability']:.3f}" if "min_probability" in band else "-"
        lines.append(f"  {band['band']:<8} {band['size']:>8} {band['listed']:>8}   {span}")
    drift = summary["drift"]
    if drift["available"]:
        flagged = ", ".join(f"{name} ({state})" for name, state in drift["flagged"].items()) or "none"
        lines.append(f"drift      flagged: {flagged}")
    else:
        lines.append("drift      not available: " + drift["reason"])
    shadow = summary.get("shadow")
    if shadow and shadow["available"]:
        top = shadow["top"][0]
        lines.append(
            f"shadow     challenger v{shadow['challenger']['version']}: disagree {shadow['disagreement_rate']:.2%}"
            f"  |dp| mean {shadow['mean_abs_delta']:.4f} p99 {shadow['p99_abs_delta']:.4f}"
            f"  {top['cut']} Jaccard {top['jaccard']:.3f} (+{top['enters']} / -{top['leaves']})"
        )
    elif shadow and shadow["reason"] != "no challenger configured":
        lines.append(f"shadow     not compared: {shadow['reason']}")
    lines.append(f"wall       {summary['wall_seconds']:.2f} s   exit {summary['exit_status']}   wrote {out}/")
    return "\n".join(lines)

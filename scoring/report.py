"""report.html: one self-contained page for the retention team (charts embedded as PNG, no fetches)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt

REPORT = "report.html"
_STYLE = (
    "body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}.act{color:#b00;font-weight:bold}"
    ".watch{color:#b60}.grid{display:flex;flex-wrap:wrap;gap:16px}img{max-width:100%}"
)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _bar(labels: list[str], values: list[float], title: str, colors: list[str] | None = None) -> str:
    figure, axes = plt.subplots(figsize=(5.5, max(2.4, 0.22 * len(values) + 0.8)))
    axes.barh(labels[::-1], values[::-1], color=(colors or ["#4477aa"] * len(values))[::-1])
    axes.set_title(title)
    return _png(figure)


def _histogram(counts: list[int], threshold: float) -> str:
    figure, axes = plt.subplots(figsize=(5.5, 3.0))
    width = 1 / len(counts)
    axes.bar([i * width for i in range(len(counts))], counts, width=width, align="edge", color="#4477aa")
    axes.axvline(threshold, color="#bb2222", linestyle="--", label=f"threshold {threshold}")
    axes.set_xlabel("churn probability")
    axes.set_ylabel("customers")
    axes.set_title("risk distribution")
    axes.legend()
    return _png(figure)


def _psi(features: dict[str, Any]) -> str:
    colour = {"act": "#bb2222", "watch": "#dd8800", "ok": "#4477aa"}
    names = list(features)
    figure, axes = plt.subplots(figsize=(5.5, 0.22 * len(names) + 0.8))
    axes.barh(names[::-1], [features[n]["psi"] for n in names][::-1],
              color=[colour.get(features[n]["status"], "#999999") for n in names][::-1])  # fmt: skip
    for line, text in ((0.1, "watch"), (0.25, "act")):
        axes.axvline(line, color="#666666", linestyle=":")
        axes.text(line, len(names) - 0.5, text, fontsize=8)
    axes.set_xlim(0, max(0.3, *(features[n]["psi"] * 1.1 for n in names)))
    axes.set_title("PSI per feature against the training split")
    return _png(figure)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _shadow(summary: dict[str, Any]) -> str:
    """Champion and challenger side by side: bands, score differences, top-K overlap, who enters and leaves."""
    shadow = summary.get("shadow")
    if not shadow:
        return ""
    if not shadow["available"]:
        return f"<h2>Challenger in shadow</h2><p>Not compared: {html.escape(shadow['reason'])}.</p>"
    champion, challenger = summary["model"], shadow["challenger"]
    theirs = {b["band"]: b for b in shadow["challenger_bands"]}

    def span(band: dict[str, Any]) -> str:
        return f"{band['min_probability']:.3f} - {band['max_probability']:.3f}" if "min_probability" in band else "-"

    bands = _table(
        ["band", f"champion v{html.escape(champion['version'])}", f"challenger v{html.escape(challenger['version'])}"],
        [[html.escape(b["band"]), span(b), span(theirs.get(b["band"], {}))] for b in summary["bands"]],
    )
    tops = _table(
        ["cut", "K", "Jaccard overlap", "enter", "leave", "first who enter", "first who leave"],
        [[html.escape(t["cut"]), t["k"], f"{t['jaccard']:.3f}", t["enters"], t["leaves"],
          html.escape(", ".join(t["enters_sample"][:8])), html.escape(", ".join(t["leaves_sample"][:8]))]
         for t in shadow["top"]],
    )  # fmt: skip
    return f"""<h2 id="shadow">Challenger in shadow (never handed out)</h2>
<p>Champion version <b>{html.escape(champion["version"])}</b>,
challenger version <b>{html.escape(challenger["version"])}</b>:
{shadow["compared"]} customers compared; predictions disagree for <b>{shadow["disagreement_rate"]:.2%}</b>;
|&Delta;p| mean <b>{shadow["mean_abs_delta"]:.4f}</b>, p99 <b>{shadow["p99_abs_delta"]:.4f}</b>,
max {shadow["max_abs_delta"]:.4f}.</p>
<div class="grid">{bands}{tops}</div>
"""


def render(summary: dict[str, Any]) -> str:
    rows, model, bands = summary["rows"], summary["model"], summary["bands"]
    band_rows = [
        [html.escape(b["band"]), b["size"], b["listed"],
         f"{b['min_probability']:.3f} - {b['max_probability']:.3f}" if "min_probability" in b else "-"]
        for b in bands
    ]  # fmt: skip
    charts = [
        _histogram(summary["risk_histogram"]["counts"], summary["threshold"]),
        _bar([b["band"] for b in bands], [b["size"] for b in bands], "customers per risk band"),
    ]
    reasons = summary["reasons"]["most_common"]
    if reasons:
        charts.append(_bar(list(reasons), list(reasons.values()), "most common reasons (top 3 per customer)"))
    drift = summary["drift"]
    drift_html = f"<p>Drift not available: {html.escape(drift.get('reason', ''))}</p>"
    if drift["available"]:
        features = drift["features"]
        charts.append(_psi(features))
        drift_html = _table(
            ["feature", "PSI", "status", "at bounds", "beyond bounds"],
            [[html.escape(name), f"{f['psi']:.4f}", f'<span class="{f["status"]}">{f["status"]}</span>',
              f"{f.get('at_bounds_share', 0):.2%}" if f["kind"] == "numeric" else "-",
              f"{f['beyond_bounds_share']:.2%}"] for name, f in features.items()],
        )  # fmt: skip
    digest = summary["input"]["sha256"] or "not computed (not one local file)"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Weekly at-risk list</title>
<style>{_STYLE}</style></head><body>
<h1>Weekly at-risk list: {html.escape(summary["input"]["name"])}</h1>
<p id="counts">Rows read <b>{rows["read"]}</b>, scored <b>{rows["scored"]}</b>, rejected <b>{rows["rejected"]}</b>
({summary["rejected_share"]:.2%}); listed <b>{rows["listed"]}</b>. Model version <b>{html.escape(model["version"])}</b>
({html.escape(model["estimator"])}), threshold {summary["threshold"]}.</p>
<h2>How many to call, per band</h2>{_table(["band", "customers", "listed", "probability"], band_rows)}
<div class="grid">{"".join(charts)}</div>
<h2>Drift against the training data</h2>{drift_html}
{_shadow(summary)}
<p>Input SHA-256 {digest}; model SHA-256 {model["model_sha256"]}.</p>
</body></html>
"""


def write_report(summary: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / REPORT
    path.write_text(render(summary), encoding="utf-8")
    return path

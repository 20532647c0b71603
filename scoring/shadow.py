"""The challenger's list beside the champion's: how far their scores and their top-K lists differ.

Both lists come from the same export through the same validator, so they rank the same customers.
Per list: the disagreement rate at each model's own threshold, the mean, p99 and largest |delta p|, and
for the top 10% (and the list handed out, when cut) the Jaccard overlap of the two top-K sets and who
enters (challenger's top K only) and who leaves (champion's top K only).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

CHANGES = "top_changes.csv"
SAMPLE = 20  # ids named in the summary per direction; all of them are in top_changes.csv
TOP_SHARE = 0.1


def _read(path: Path) -> pa.Table:
    options = pa_csv.ConvertOptions(
        include_columns=["customer_id", "probability", "prediction"],
        column_types={"customer_id": pa.string(), "probability": pa.float64(), "prediction": pa.int8()},
    )
    return pa_csv.read_csv(path, convert_options=options)


def top_k(scored: int) -> int:
    """The top-10% band's size, as the weekly list cuts it (ceil)."""
    return math.ceil(TOP_SHARE * scored)


def compare_lists(champion_ranking: Path, challenger_ranking: Path, listed: int) -> dict[str, Any]:
    """The comparison of two full rankings (before any cut); writes `top_changes.csv` beside the challenger's."""
    champion, challenger = _read(champion_ranking), _read(challenger_ranking)
    ids = champion.column("customer_id").combine_chunks()
    other_ids = challenger.column("customer_id").combine_chunks()
    position = pc.index_in(ids, value_set=other_ids)  # champion row -> challenger row (its rank - 1)
    matched = np.asarray(position.is_valid(), dtype=bool)
    at = np.asarray(position.fill_null(0), dtype=np.int64)[matched]
    p = champion.column("probability").to_numpy()[matched]
    q = challenger.column("probability").to_numpy()[at]
    delta = np.abs(q - p)
    disagree = champion.column("prediction").to_numpy()[matched] != challenger.column("prediction").to_numpy()[at]
    scored = len(ids)
    cuts = {"top 10%": top_k(scored)}
    if listed not in (scored, cuts["top 10%"]):
        cuts["listed"] = listed
    tops = []
    with (challenger_ranking.parent / CHANGES).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["cut", "k", "change", "customer_id", "champion_rank", "challenger_rank"])
        for label, k in cuts.items():
            ours, theirs = ids.slice(0, k).to_pylist(), other_ids.slice(0, k).to_pylist()
            mine, yours = set(ours), set(theirs)
            enters = [c for c in theirs if c not in mine]
            leaves = [c for c in ours if c not in yours]
            rank_of = {c: i + 1 for i, c in enumerate(ours)}
            other_rank = {c: i + 1 for i, c in enumerate(theirs)}
            writer.writerows([label, k, "enters", c, "", other_rank[c]] for c in enters)
            writer.writerows([label, k, "leaves", c, rank_of[c], ""] for c in leaves)
            union = len(mine | yours)
            tops.append({
                "cut": label, "k": k, "jaccard": round(len(mine & yours) / union, 6) if union else 1.0,
                "enters": len(enters), "leaves": len(leaves),
                "enters_sample": enters[:SAMPLE], "leaves_sample": leaves[:SAMPLE],
            })  # fmt: skip
    n = int(matched.sum())
    return {
        "available": True,
        "compared": n,
        "unmatched": scored - n,
        "disagreement_rate": round(float(disagree.mean()), 6) if n else None,
        "mean_abs_delta": round(float(delta.mean()), 6) if n else None,
        "p99_abs_delta": round(float(np.quantile(delta, 0.99)), 6) if n else None,
        "max_abs_delta": round(float(delta.max()), 6) if n else None,
        "top": tops,
    }

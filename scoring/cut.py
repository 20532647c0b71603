"""Cutting a full ranking to the list the team is given (`--top N`, `--min-probability P`).

The archive keeps every scored customer (the outcomes are measured on all of them), so the list is made
whole and then cut here; when nothing is cut, the list is the archived file itself, read-only. Both
selections keep a prefix of the ranking (it is sorted by probability), so the cut is the first `listed`
lines, and each band's `listed` follows from its ranks. A test proves the result is byte for byte what
`run_weekly` writes when given the selection itself.
"""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from scoring.runs import Selection

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def listed_count(ranking: Path, scored: int, selection: Selection) -> int:
    listed = scored if selection.top is None else min(scored, selection.top)
    if selection.min_probability is not None and listed:
        options = pa_csv.ConvertOptions(include_columns=["probability"], column_types={"probability": pa.float64()})
        probabilities = pa_csv.read_csv(ranking, convert_options=options).column("probability").to_numpy()
        # Sorted from highest to lowest: those at or above P are a prefix.
        listed = min(listed, int(np.count_nonzero(probabilities >= selection.min_probability)))
    return listed


def cut_list(full: Path, out: Path, summary: dict[str, Any], selection: Selection) -> dict[str, Any]:
    """Write the first `listed` rows of `full` to `out` (a new file: `full` is linked into the archive)
    and answer the summary as `run_weekly` would have written it for `selection`."""
    scored = summary["rows"]["scored"]
    listed = listed_count(full, scored, selection)
    staging = out.with_name(f".{out.name}.cut")
    staging.unlink(missing_ok=True)
    if listed == scored:
        # Nothing cut: the same file, linked (a 1M-row ranking is ~150 MB: a copy cost 0.35 s of 4.5 s). The
        # archive takes `full` too, so the file is read-only: the list cannot be edited into the archive, and
        # every list is written as a new file, never over an old one (as DVC protects its linked cache).
        full.chmod(READ_ONLY)
        os.link(full, staging)
    else:
        with full.open("rb") as source, staging.open("wb") as sink:
            sink.writelines(itertools.islice(source, listed + 1))  # the header, then one line per customer
    os.replace(staging, out)
    bands = []
    for band in summary["bands"]:
        ranks = band.get("ranks")
        inside = 0 if ranks is None else max(0, min(ranks[1], listed) - ranks[0] + 1)
        bands.append({**band, "listed": inside})
    return {
        **summary,
        "rows": {**summary["rows"], "listed": listed},
        "selection": {"top": selection.top, "min_probability": selection.min_probability},
        "bands": bands,
    }

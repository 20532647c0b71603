"""The model's reference distribution: what its training split looked like, for drift and for reasons.

`promote` derives it from the training split and writes it beside the model; the manifest hashes it and
the loader checks that hash. Model directories written before it existed still load: drift and reasons
are then "not available".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

REFERENCE_FILE = "reference.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericReference(_Frozen):
    edges: tuple[float, ...] = Field(description="Interior bin edges: the training split's deciles, deduplicated.")
    shares: tuple[float, ...] = Field(description="Training share per bin (len(edges) + 1 bins), then of nulls.")
    at_bounds_share: float = Field(ge=0.0, le=1.0, description="Training share at the profile's min or max.")


class CategoricalReference(_Frozen):
    shares: dict[str, float] = Field(description="Training share per category.")


class Reference(_Frozen):
    rows: int = Field(gt=0, description="Rows of the training split it was derived from.")
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    baseline: tuple[float, ...] = Field(
        description="Mean of each transformed column over the training split: reasons are measured against it."
    )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def numeric_bins(values: NDArray[np.float64], edges: Sequence[float]) -> NDArray[np.int64]:
    """Each value's bin: 0 (value < edges[0]) ... len(edges) (value >= edges[-1]), and len(edges) + 1 for null.

    The one binning rule: the reference is built with it, every week and the serving window are measured with it."""
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right").astype(np.int64)
    bins[np.isnan(values)] = len(edges) + 1
    return bins


def numeric_counts(values: NDArray[np.float64], edges: Sequence[float]) -> NDArray[np.int64]:
    """Counts per bin (value < edges[0], ..., value >= edges[-1]) and, last, of nulls (NaN): `numeric_bins`, counted."""
    return np.bincount(numeric_bins(values, edges), minlength=len(edges) + 2).astype(np.int64)

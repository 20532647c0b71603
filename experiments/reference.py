"""The reference distribution of a trained model, derived from its training split (never typed in)."""

from __future__ import annotations

import numpy as np

from experiments.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from experiments.train import TrainResult
from service.profile import CategoricalFeature, DataProfile
from service.reference import CategoricalReference, NumericReference, Reference, numeric_counts

DECILES = tuple(q / 10 for q in range(1, 10))


def build_reference(result: TrainResult, profile: DataProfile) -> Reference:
    X = result.split.X_train
    rows = len(X)
    numeric: dict[str, NumericReference] = {}
    for name in NUMERIC_FEATURES:
        values = X[name].to_numpy(dtype=np.float64)
        present = values[~np.isnan(values)]
        edges = tuple(float(edge) for edge in np.unique(np.quantile(present, DECILES)))
        spec = profile.features[name]
        assert not isinstance(spec, CategoricalFeature)  # noqa: S101 - NUMERIC_FEATURES are numeric by definition
        at_bounds = float(np.count_nonzero((present <= spec.min) | (present >= spec.max)) / rows)
        shares = tuple(float(c) / rows for c in numeric_counts(values, edges))
        numeric[name] = NumericReference(edges=edges, shares=shares, at_bounds_share=at_bounds)
    categorical = {
        name: CategoricalReference(
            shares={str(k): float(v) for k, v in sorted(X[name].value_counts(normalize=True).items())}
        )
        for name in CATEGORICAL_FEATURES
    }
    baseline = np.asarray(result.pipeline[0].transform(X), dtype=np.float64).mean(axis=0)
    return Reference(rows=rows, numeric=numeric, categorical=categorical, baseline=tuple(float(v) for v in baseline))

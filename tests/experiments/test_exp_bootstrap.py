"""The paired bootstrap: exact AUCs per resample, seeded, and honest about noise."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from experiments.bootstrap import _auc_rows, paired_auc_difference


def _scores(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    base = np.round(y * 0.3 + rng.random(n), 2)  # rounded: plenty of ties, which AUC must average
    return y, base, np.round(base + rng.normal(0, 0.1, n), 2)


def test_the_vectorised_auc_is_roc_auc_score_on_every_resample() -> None:
    y, base, _ = _scores(0)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(1)
    rows = np.concatenate(  # laid out as the bootstrap lays them out: positives first, with repeats
        [rng.choice(positives, size=(5, len(positives))), rng.choice(negatives, size=(5, len(negatives)))], axis=1
    )
    expected = [roc_auc_score(y[row], base[row]) for row in rows]
    assert _auc_rows(base[rows], len(positives)) == pytest.approx(expected, abs=1e-12)


def test_the_interval_is_seeded_and_brackets_the_estimate() -> None:
    y, base, variant = _scores(2)
    first = paired_auc_difference(y, base, variant, seed=42, resamples=300)
    assert first == paired_auc_difference(y, base, variant, seed=42, resamples=300)
    assert first != paired_auc_difference(y, base, variant, seed=43, resamples=300)
    assert first.low <= first.estimate <= first.high
    assert first.estimate == roc_auc_score(y, variant) - roc_auc_score(y, base)


def test_a_model_against_itself_is_no_difference_and_a_real_gain_excludes_zero() -> None:
    y, base, _ = _scores(3)
    same = paired_auc_difference(y, base, base.copy(), seed=0, resamples=200)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    assert not same.excludes_zero
    perfect = y.astype(np.float64)
    gain = paired_auc_difference(y, base, perfect, seed=0, resamples=200)
    assert gain.excludes_zero
    assert gain.low > 0


def test_bad_arguments_are_refused() -> None:
    y, base, variant = _scores(4)
    with pytest.raises(ValueError, match="level"):
        paired_auc_difference(y, base, variant, seed=0, level=1.0)
    with pytest.raises(ValueError, match="both classes"):
        paired_auc_difference(np.zeros_like(y), base, variant, seed=0)

"""Sabotage proofs for the reproducibility check: an unseeded split, a split seed hard-coded, an unseeded estimator.

Each fault is planted in a temporary copy of the code (tests/utils/planted.py); a fault that did not reach the
child processes would leave the check passing, and the test failing. Each proof makes only the part of the check
it aims at (two runs, not four: each run is a process with ~6 s of CPU); the check fails when any part does.
The run under another kernel: test_verification_reproducibility_kernels.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.planted import SEEDED_SPLIT, planted_copy
from verification.reproducibility import check_reproducibility

pytestmark = pytest.mark.long(40)


@pytest.mark.slow
def test_an_unseeded_split_is_caught(tmp_path: Path) -> None:
    root = planted_copy(tmp_path, "experiments/train.py", SEEDED_SPLIT, "        random_state=None,\n")
    result = check_reproducibility(root=root, parts={"reruns"})
    assert not result.passed
    assert result.evidence["root"] == str(root)
    assert result.evidence["predictions_compared"] == 0  # other test rows: nothing to compare row by row
    assert any(f.startswith("metric roc_auc differs: ") for f in result.failures), result.failures
    assert any(
        f.startswith("predictions differ: the two runs scored different test rows (")
        and f.endswith("the split is not reproducible")
        for f in result.failures
    ), result.failures


@pytest.mark.slow
def test_a_split_seed_hard_coded_is_caught(tmp_path: Path) -> None:
    """Reruns agree, so only the other-seed half can catch it: seed 43 must not give seed 42's split."""
    root = planted_copy(tmp_path, "experiments/train.py", SEEDED_SPLIT, "        random_state=42,\n")
    result = check_reproducibility(root=root, parts={"reseeded"})
    assert not result.passed
    assert result.failures == (
        "seed 43 chose the same 1409 test rows as seed 42: the seed does not reach the split",
        "seed 43 logged exactly the metrics of seed 42: the seed does not reach the results",
    )


@pytest.mark.slow
def test_an_unseeded_estimator_is_caught_by_each_runs_audit(tmp_path: Path) -> None:
    """lbfgs draws no random numbers, so the metrics cannot show it; each run's own audit must, and a run whose
    audit fails exits 1, which fails the check with the audit's words."""
    honest = '        params["random_state"] = config.seed\n'
    root = planted_copy(tmp_path, "experiments/pipeline.py", honest, '        params["random_state"] = None\n')
    result = check_reproducibility(root=root, parts={"reruns"})
    assert not result.passed
    exits = [f for f in result.failures if "` (seed " in f and " exited 1:\n" in f]
    assert len(exits) == len(result.evidence["run_seconds"]) == 2, result.failures
    assert all("the logged model has model.random_state = 'null', the config asks for " in f for f in exits)


def test_no_parts_or_an_unknown_part_is_refused() -> None:
    """A typo in `parts` must not turn into a check that makes nothing and passes."""
    for parts in (set(), {"rerun"}):
        with pytest.raises(ValueError, match="parts must be some of"):
            check_reproducibility(parts=parts)  # type: ignore[arg-type]

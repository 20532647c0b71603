"""Sabotage proofs for the reproducibility check: an unseeded split, a split seed hard-coded, an unseeded estimator.

The check runs `python -m experiments run` in child processes, which a monkeypatch in this process cannot reach.
So each fault is planted in the source of a temporary copy of the repository's code, and the check is pointed
at that copy (`root`): the children run there with it as working directory and `PYTHONPATH`, so they import
the planted code. A fault that did not reach them would leave the check passing, and the test failing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from verification.paths import ROOT
from verification.reproducibility import check_reproducibility

# What `python -m experiments run` reads: its code, the service code it imports, the data, the lock.
COPIED = ("experiments", "service", "data", "requirements.txt")
SEEDED_SPLIT = "        random_state=config.seed,\n"


def _planted_copy(tmp_path: Path, file: str, honest: str, faulty: str) -> Path:
    root = tmp_path / "repo"
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, root / name)
    target = root / file
    source = target.read_text(encoding="utf-8")
    assert source.count(honest) == 1, f"{file} no longer has the line to sabotage: {honest!r}"
    target.write_text(source.replace(honest, faulty), encoding="utf-8")
    return root


@pytest.mark.slow
def test_the_committed_experiments_reproduce_and_respond_to_the_seed() -> None:
    result = check_reproducibility()
    assert result.passed, result.failures
    assert result.evidence["metrics_compared"] == 10
    assert result.evidence["predictions_compared"] == result.evidence["predictions_identical"] == 1409
    assert result.evidence["reseeded"]["test_rows_changed"] > 0
    kernel = result.evidence["cross_kernel"]["kernel"]
    assert result.evidence["cross_kernel"]["equality"] == f"bit-identical under the recorded kernel {kernel}"


@pytest.mark.slow
def test_a_reproduce_that_does_not_force_the_recorded_kernel_is_caught(tmp_path: Path) -> None:
    """The child rerun loses `OPENBLAS_CORETYPE`: it computes under this machine's kernel, so the bits differ
    and the reproduction must fail, where a check of the hash seeds alone would pass."""
    honest = "        env={**os.environ, numerics.CORETYPE: kernel},\n"
    root = _planted_copy(tmp_path, "experiments/reproduce.py", honest, "        env=dict(os.environ),\n")
    result = check_reproducibility(root=root)
    assert not result.passed
    kernel = result.evidence["cross_kernel"]["kernel"]
    (failure,) = result.failures
    assert failure.startswith(f"`python -m experiments reproduce` of the run made under OPENBLAS_CORETYPE={kernel} "
                              "exited 1:\n"), failure  # fmt: skip
    assert failure.endswith("reproduction: FAILED")


@pytest.mark.slow
def test_an_unseeded_split_is_caught(tmp_path: Path) -> None:
    root = _planted_copy(tmp_path, "experiments/train.py", SEEDED_SPLIT, "        random_state=None,\n")
    result = check_reproducibility(root=root)
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
    root = _planted_copy(tmp_path, "experiments/train.py", SEEDED_SPLIT, "        random_state=42,\n")
    result = check_reproducibility(root=root)
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
    root = _planted_copy(tmp_path, "experiments/pipeline.py", honest, '        params["random_state"] = None\n')
    result = check_reproducibility(root=root)
    assert not result.passed
    exits = [f for f in result.failures if "` (seed " in f and " exited 1:\n" in f]
    assert len(exits) == 4, result.failures  # the run under another kernel too
    assert all("the logged model has model.random_state = 'null', the config asks for " in f for f in exits)

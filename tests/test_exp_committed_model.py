"""One training path: the committed `models/churn/` is exactly what `run baseline` + `promote` produce.

"Exactly" under the kernel the committed model records: on any x86-64 machine the commands are rerun in a
child forced to that kernel and must give the same bytes; a machine that cannot run it (another architecture,
another BLAS) gets the tolerance comparison, which this module also runs for real, across two kernels.
Only `created_at` and `mlflow_run_id` may differ: the committed manifest names the run it was promoted from,
which lives in the promoting engineer's local store, not in git.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import pytest

from experiments.model_dir import DEFAULT_MODEL_DIR
from experiments.reproduce import Mode
from service.manifest import MANIFEST_FILE, MODEL_FILE, read_manifest
from tests.conftest import ROOT
from tests.utils.committed_model import compare, plan_for, produce

COMMITTED = ROOT / DEFAULT_MODEL_DIR
OTHER_KERNEL = "Sandybridge"  # runs on any x86-64 CPU with AVX; not this machine's default kernel


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Mode]:
    """The commands' output under the committed model's own kernel (forced in the child when it is not ours)."""
    the_plan = plan_for(COMMITTED)
    assert the_plan.recorded is not None, "the committed manifest must record its numeric environment"
    kernel = the_plan.recorded.kernel if the_plan.mode is Mode.CHILD else None
    target = tmp_path_factory.mktemp("produced") / "churn"
    produce(COMMITTED, target, kernel)
    return target, the_plan.mode


@pytest.fixture(scope="module")
def produced_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The commands' output under another kernel: what a colleague's machine would produce."""
    assert read_manifest(COMMITTED).numeric_environment["numeric.kernel"] != OTHER_KERNEL
    target = tmp_path_factory.mktemp("elsewhere") / "churn"
    produce(COMMITTED, target, OTHER_KERNEL)
    return target


@pytest.mark.slow
def test_the_committed_model_is_what_run_baseline_and_promote_produce(produced: tuple[Path, Mode]) -> None:
    target, mode = produced
    result = compare(COMMITTED, target, mode)
    assert result.passed, result.differences
    if mode is not Mode.TOLERANCE:
        assert result.same_bytes
    assert read_manifest(COMMITTED).mlflow_run_id is not None  # it says which run it was promoted from


@pytest.mark.slow
def test_under_another_kernel_the_bytes_differ_but_the_model_is_equal_within_tolerance(
    produced_elsewhere: Path,
) -> None:
    strict = compare(COMMITTED, produced_elsewhere, Mode.CHILD)
    assert not strict.same_bytes  # the kernel really reaches the bytes: bit-identity needs the recorded one
    assert f"{MODEL_FILE}: the committed bytes are not what the commands produce" in strict.differences
    tolerant = compare(COMMITTED, produced_elsewhere, Mode.TOLERANCE)
    assert tolerant.passed, tolerant.differences


def _planted(tmp_path: Path, **manifest: object) -> Path:
    """A copy of the committed directory, its manifest edited by `manifest`."""
    target = tmp_path / "committed"
    shutil.copytree(COMMITTED, target)
    data = json.loads((target / MANIFEST_FILE).read_text())
    (target / MANIFEST_FILE).write_text(json.dumps({**data, **manifest}))
    return target


@pytest.mark.slow
@pytest.mark.parametrize("mode", [Mode.CHILD, Mode.TOLERANCE])
def test_a_committed_model_that_is_not_the_commands_output_is_caught(
    tmp_path: Path, produced: tuple[Path, Mode], mode: Mode
) -> None:
    """Another model under the committed manifest, as a hand edit or a stale file would leave it: the committed
    pipeline with its coefficients scaled by 1%."""
    committed = _planted(tmp_path)
    pipeline = joblib.load(committed / MODEL_FILE)
    pipeline[-1].coef_ = pipeline[-1].coef_ * 1.01
    joblib.dump(pipeline, committed / MODEL_FILE)
    result = compare(committed, produced[0], mode)
    assert not result.passed
    expected = "probabilities on the 7043 customers differ by up to " if mode is Mode.TOLERANCE else MODEL_FILE
    assert any(item.startswith(expected) for item in result.differences), result.differences


@pytest.mark.slow
@pytest.mark.parametrize("mode", [Mode.CHILD, Mode.TOLERANCE])
def test_a_committed_manifest_that_claims_other_metrics_is_caught(
    tmp_path: Path, produced: tuple[Path, Mode], mode: Mode
) -> None:
    metrics = {**read_manifest(COMMITTED).metrics, "roc_auc": 0.9}
    result = compare(_planted(tmp_path, metrics=metrics), produced[0], mode)
    assert not result.passed
    assert any(item.startswith(("manifest metrics: ", "metrics differ by ")) for item in result.differences)

"""`reproduce` across BLAS kernels: a run made under another kernel is rerun under it (bit-identical), or,
where that kernel cannot run, compared within the tolerance; and the tolerance still catches another model.

The original run is made for real in a child process forced to `OTHER_KERNEL`, so CI exercises the
other-kernel path on every run, whatever its own CPU picks.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import sklearn.model_selection

import experiments.data
import experiments.pipeline
from experiments import numerics
from experiments import train as train_module
from experiments.cli import DEFAULT_CONFIG, main
from experiments.reproduce import TOLERANCE, Mode, reproduce
from experiments.store import Store
from testkit.paths import ROOT
from testkit.stores import empty_store

# Forcing a kernel is OpenBLAS on x86-64; elsewhere the tolerance path is what runs, and these tests do not apply.
pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in {"x86_64", "amd64"}, reason="OPENBLAS_CORETYPE names x86-64 kernels"
)
OTHER_KERNEL = numerics.another_kernel(numerics.current().kernel)  # runs on any x86-64 CPU with AVX
NEVER: Callable[[str], bool] = lambda kernel: False  # noqa: E731 - "this machine cannot run that kernel"


@pytest.fixture(scope="module")
def made_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str]:
    """A store holding one baseline run computed under `OTHER_KERNEL`, as a colleague's machine would."""
    assert numerics.current().kernel != OTHER_KERNEL, "pick another kernel than this machine's own"
    directory = tmp_path_factory.mktemp("kernels")
    uri = empty_store(directory / "mlflow.db")
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "run", str(DEFAULT_CONFIG), "--tracking-uri", uri],
        cwd=ROOT,
        env={**os.environ, numerics.CORETYPE: OTHER_KERNEL},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store.at(uri)
    (run,) = store.client.search_runs([store.experiment_id("churn")])
    assert run.data.tags["numeric.kernel"] == OTHER_KERNEL
    return store, run.info.run_id


def test_every_run_records_its_numeric_environment(made_elsewhere: tuple[Store, str]) -> None:
    store, run_id = made_elsewhere
    tags = store.client.get_run(run_id).data.tags
    assert tags["numeric.openblas_coretype"] == OTHER_KERNEL
    assert tags["numeric.machine"] == numerics.current().machine
    assert tags["numeric.blas"].count(f" {OTHER_KERNEL}") == 2  # numpy's and scipy's OpenBLAS
    for name in ("numpy", "scipy", "scikit-learn", "openmp", "threads"):
        assert tags[f"numeric.{name}"], name


@pytest.mark.slow
def test_a_run_from_another_kernel_is_rerun_under_it_and_bit_identical(
    made_elsewhere: tuple[Store, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, run_id = made_elsewhere
    assert main(["reproduce", run_id, "--tracking-uri", store.uri]) == 0
    out = capsys.readouterr().out
    assert f"equality: bit-identical under the recorded kernel {OTHER_KERNEL}\n" in out
    assert f"the reproduction computed under {OTHER_KERNEL}" in out
    assert "predictions identical on 1409/1409 rows" in out
    assert out.rstrip().endswith("reproduction: PASSED")


def test_where_the_kernel_cannot_run_the_result_is_equal_within_the_tolerance(
    made_elsewhere: tuple[Store, str],
) -> None:
    store, run_id = made_elsewhere
    again = reproduce(store, run_id, runnable=NEVER)
    assert again.plan.mode is Mode.TOLERANCE
    assert again.passed, again.table()
    assert not again.bit_identical  # the kernels really differ: only the tolerance makes this a reproduction
    assert 0 < again.max_difference <= TOLERANCE
    here = numerics.current()
    assert again.equality == (
        f"equal within {TOLERANCE:g}: recorded {OTHER_KERNEL}, this machine {here.kernel} on {here.machine}: "
        f"{OTHER_KERNEL} cannot run here"
    )


def test_bit_identity_is_demanded_where_the_kernel_can_run(made_elsewhere: tuple[Store, str]) -> None:
    """The same numbers accepted within the tolerance fail where the recorded kernel was there to rerun."""
    store, run_id = made_elsewhere
    again = reproduce(store, run_id, runnable=NEVER)
    strict = dataclasses.replace(again, plan=dataclasses.replace(again.plan, mode=Mode.CHILD))
    assert strict.equality is None
    assert not strict.passed


def _one_training_row_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    load = experiments.data.load_dataset

    def changed(*args: Any, **kwargs: Any) -> Any:
        dataset = load(*args, **kwargs)
        frame = dataset.frame.copy()
        frame.loc[frame.index[0], "monthly_charges"] += 10.0
        return type(dataset)(frame=frame, path=dataset.path, sha256=dataset.sha256)

    monkeypatch.setattr(train_module, "load_dataset", changed)


def _another_c(monkeypatch: pytest.MonkeyPatch) -> None:
    build = experiments.pipeline.build_pipeline

    def stronger(*args: Any, **kwargs: Any) -> Any:
        pipeline = build(*args, **kwargs)
        return pipeline.set_params(**{f"{pipeline.steps[-1][0]}__C": 0.5})

    monkeypatch.setattr(train_module, "build_pipeline", stronger)


def _unseeded_split(monkeypatch: pytest.MonkeyPatch) -> None:
    split = sklearn.model_selection.train_test_split

    def unseeded(*args: Any, **kwargs: Any) -> Any:
        return split(*args, **{**kwargs, "random_state": None})

    monkeypatch.setattr(train_module, "train_test_split", unseeded)


@pytest.mark.parametrize("plant", [_one_training_row_changed, _another_c, _unseeded_split])
def test_the_tolerance_still_catches_another_model(
    made_elsewhere: tuple[Store, str], monkeypatch: pytest.MonkeyPatch, plant: Callable[[pytest.MonkeyPatch], None]
) -> None:
    store, run_id = made_elsewhere
    plant(monkeypatch)
    again = reproduce(store, run_id, runnable=NEVER)
    assert again.plan.mode is Mode.TOLERANCE
    assert not again.within_tolerance
    assert again.max_difference > 1e3 * TOLERANCE  # far outside the bound, not a near miss
    assert again.equality is None
    assert not again.passed
    assert again.table().endswith("reproduction: FAILED")

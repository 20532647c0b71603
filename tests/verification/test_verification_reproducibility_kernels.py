"""The sabotage twin of the reproducibility check's run under another kernel: a `reproduce` that does not force
the recorded kernel. Only that part of the check is made (one run and its reproduction, not four runs). The honest
run of the whole check is the verify env's (`python -m verification reproducibility`), not repeated here: it cost
71 s of the suite. A file of its own so that xdist runs it beside the other proofs (`--dist loadfile`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.planted import planted_copy
from verification.reproducibility import check_reproducibility

pytestmark = pytest.mark.long(26)


@pytest.mark.slow
def test_a_reproduce_that_does_not_force_the_recorded_kernel_is_caught(tmp_path: Path) -> None:
    """The child rerun loses `OPENBLAS_CORETYPE`: it computes under this machine's kernel, so the bits differ
    and the reproduction must fail, where a check of the hash seeds alone would pass."""
    honest = "        env={**os.environ, numerics.CORETYPE: kernel},\n"
    root = planted_copy(tmp_path, "experiments/reproduce.py", honest, "        env=dict(os.environ),\n")
    result = check_reproducibility(root=root, parts={"kernel"})
    assert not result.passed
    kernel = result.evidence["cross_kernel"]["kernel"]
    (failure,) = result.failures
    assert failure.startswith(f"`python -m experiments reproduce` of the run made under OPENBLAS_CORETYPE={kernel} "
                              "exited 1:\n"), failure  # fmt: skip
    assert failure.endswith("reproduction: FAILED")

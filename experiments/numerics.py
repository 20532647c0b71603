"""The numeric environment a run computed in, and whether this machine can compute in it again.

Floating point from the same code, data and seed still depends on the BLAS kernel: OpenBLAS picks one per
CPU (SkylakeX, Haswell, Sandybridge...), and the kernels sum in different orders. Measured on the baseline:
five x86-64 kernels give five different model files, with test probabilities up to 7.5e-13 apart and metrics
up to 2e-14 apart. So every run records its kernel, and `reproduce` demands bit-identity only where it can
compute under that kernel again: here (same kernel), or in a child process with `OPENBLAS_CORETYPE` set
before numpy loads (OpenBLAS reads it once, at load).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

TAG_PREFIX = "numeric."
CORETYPE = "OPENBLAS_CORETYPE"
PACKAGES = ("numpy", "scipy", "scikit-learn")
PROBE_TIMEOUT = 60.0  # seconds for a child to load numpy/scipy under a kernel and report it
# Loads every BLAS the training path uses (numpy's and scipy's OpenBLAS), runs a product through each, and
# prints what threadpoolctl sees: a kernel this CPU cannot execute dies here (SIGILL), not in a rerun.
_PROBE = (
    "import json, numpy, scipy.linalg, threadpoolctl;"
    "a = numpy.ones((64, 64)); a @ a; scipy.linalg.blas.dgemm(1.0, a, a);"
    "print(json.dumps(threadpoolctl.threadpool_info()))"
)


@dataclass(frozen=True)
class NumericEnvironment:
    machine: str  # CPU architecture: x86_64, arm64, aarch64...
    blas: tuple[str, ...]  # one "internal_api version kernel" per BLAS library loaded, sorted
    kernels: tuple[str, ...]  # the distinct kernels of those libraries, sorted
    openmp: tuple[str, ...]
    threads: str
    packages: tuple[tuple[str, str], ...]
    coretype: str  # OPENBLAS_CORETYPE as set for the process ("" when OpenBLAS chose by itself)

    @property
    def kernel(self) -> str:
        return "+".join(self.kernels) or "unknown"

    def tags(self) -> dict[str, str]:
        return {
            f"{TAG_PREFIX}machine": self.machine,
            f"{TAG_PREFIX}blas": "; ".join(self.blas),
            f"{TAG_PREFIX}kernel": self.kernel,
            f"{TAG_PREFIX}openmp": "; ".join(self.openmp),
            f"{TAG_PREFIX}threads": self.threads,
            f"{TAG_PREFIX}openblas_coretype": self.coretype,
            **{f"{TAG_PREFIX}{name}": version for name, version in self.packages},
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> NumericEnvironment | None:
        """None for a run made before kernels were recorded."""
        kernel = tags.get(f"{TAG_PREFIX}kernel")
        if kernel is None:
            return None

        def split(name: str) -> tuple[str, ...]:
            value = tags.get(f"{TAG_PREFIX}{name}", "")
            return tuple(part for part in value.split("; ") if part)

        return cls(
            machine=tags.get(f"{TAG_PREFIX}machine", "unknown"),
            blas=split("blas"),
            kernels=tuple(sorted(part for part in kernel.split("+") if part and part != "unknown")),
            openmp=split("openmp"),
            threads=tags.get(f"{TAG_PREFIX}threads", ""),
            packages=tuple((name, tags.get(f"{TAG_PREFIX}{name}", "unknown")) for name in PACKAGES),
            coretype=tags.get(f"{TAG_PREFIX}openblas_coretype", ""),
        )

    def same_libraries(self, other: NumericEnvironment) -> bool:
        """Same CPU architecture, BLAS libraries and numeric packages: only the kernel may differ."""
        strip = [tuple(entry.rsplit(" ", 1)[0] for entry in env.blas) for env in (self, other)]
        return self.machine == other.machine and strip[0] == strip[1] and self.packages == other.packages


def _describe(info: list[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]:
    blas = [entry for entry in info if entry.get("user_api") == "blas"]
    openmp = [entry for entry in info if entry.get("user_api") == "openmp"]
    described = tuple(  # sorted: the load order follows the import order, which means nothing numerically
        sorted(
            f"{entry['internal_api']} {entry.get('version') or 'unknown'} {entry.get('architecture') or 'unknown'}"
            for entry in blas
        )
    )
    kernels = tuple(sorted({str(entry["architecture"]) for entry in blas if entry.get("architecture")}))
    omp = tuple(f"{entry['prefix']} {entry.get('version') or 'unknown'}" for entry in openmp)
    threads = ",".join(f"{entry['prefix']}={entry['num_threads']}" for entry in info)
    return described, kernels, omp, threads


def current() -> NumericEnvironment:
    """This process's numeric environment, with every library training loads already loaded."""
    import scipy.linalg  # noqa: F401, PLC0415 - loads scipy's own OpenBLAS, which lbfgs uses
    import sklearn.linear_model  # noqa: F401, PLC0415 - loads scikit-learn's OpenMP runtime
    from threadpoolctl import threadpool_info  # noqa: PLC0415

    blas, kernels, openmp, threads = _describe(threadpool_info())
    return NumericEnvironment(
        machine=platform.machine(),
        blas=blas,
        kernels=kernels,
        openmp=openmp,
        threads=threads,
        packages=tuple((name, metadata.version(name)) for name in PACKAGES),
        coretype=os.environ.get(CORETYPE, ""),
    )


def probe_kernel(kernel: str) -> tuple[str, ...] | None:
    """The kernels a child process with `OPENBLAS_CORETYPE=kernel` really runs, or None if it cannot start
    (not OpenBLAS on x86-64, or a kernel whose instructions this CPU lacks)."""
    if platform.machine().lower() not in {"x86_64", "amd64"} or not kernel.isalnum():
        return None
    try:
        # Fixed argv: this interpreter and a constant program; only the kernel name varies, checked above.
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", _PROBE],
            env={**os.environ, CORETYPE: kernel},
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return _describe(json.loads(done.stdout))[1]


def another_kernel(kernel: str) -> str:
    """An x86-64 kernel other than `kernel` that any x86-64 CPU with AVX runs: the one tests force."""
    return "Nehalem" if kernel == "Sandybridge" else "Sandybridge"


def runnable_here(kernel: str) -> bool:
    """True when a child process here computes under exactly `kernel`, every BLAS library included."""
    return probe_kernel(kernel) == (kernel,)

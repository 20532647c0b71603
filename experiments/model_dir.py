"""Writing a serving model directory atomically, so a running service never sees half a model."""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sklearn
from joblib.numpy_pickle import NumpyPickler

from experiments import numerics
from experiments.data import FEATURES, sha256_bytes
from experiments.reference import build_reference
from experiments.train import TrainResult
from service.encoding import plan_of
from service.manifest import MANIFEST_FILE, MODEL_DIR, MODEL_FILE, Manifest, read_manifest
from service.plan import PLAN_FILE
from service.profile import load_profile, sha256_file
from service.reference import REFERENCE_FILE

DEFAULT_MODEL_DIR = MODEL_DIR
_RENAME_EXCHANGE = 2  # linux/fs.h


class _CanonicalPickler(NumpyPickler):  # type: ignore[misc] # joblib is untyped
    """joblib's own pickler (the file stays a plain `joblib.load`-able one), writing each string once per
    *value*: pickle shares a string only when it is the same object, and which strings are the same object
    depends on how the model came to be in memory (freshly trained, or loaded back from MLflow, and even
    on what the process did before). Shared by value, the bytes depend on the model's values alone."""

    def __init__(self, handle: io.BytesIO) -> None:
        super().__init__(handle)
        self._strings: dict[str, str] = {}  # also keeps them alive while the memo refers to them by id

    def save(self, obj: Any) -> None:
        if type(obj) is str:
            obj = self._strings.setdefault(obj, obj)
        super().save(obj)


def serialize_pipeline(result: TrainResult) -> bytes:
    """The model file's bytes, independent of string identity: `promote` of a logged logistic-regression
    pipeline writes exactly what `train` would have. (Tree models loaded back from skops still differ from
    the freshly trained object in other internals, so their bytes differ; each path stays deterministic.)"""
    buffer = io.BytesIO()
    _CanonicalPickler(buffer).dump(result.pipeline)
    return buffer.getvalue()


def next_version(target: Path, model_sha256: str) -> str:
    """Same model bytes keep their version; new bytes get the next integer."""
    try:
        current = read_manifest(target)
    except (OSError, ValueError):
        return "1"
    if current.model_sha256 == model_sha256:
        return current.version
    return str(int(current.version) + 1) if current.version.isdigit() else "1"


def build_manifest(
    result: TrainResult,
    *,
    model_sha256: str,
    profile_sha256: str,
    version: str,
    run_id: str | None,
    numeric_environment: dict[str, str],
    reference_sha256: str | None = None,
    encoder_sha256: str | None = None,
) -> Manifest:
    return Manifest(
        version=version,
        model_sha256=model_sha256,
        profile_sha256=profile_sha256,
        data_sha256=result.dataset.sha256,
        features=FEATURES,
        threshold=result.config.threshold,
        estimator=type(result.pipeline[-1]).__name__,
        metrics=result.metrics,
        seed=result.config.seed,
        config=result.config.name or result.config.experiment,  # the config's name, e.g. "baseline"
        sklearn_version=sklearn.__version__,
        created_at=datetime.now(UTC).replace(microsecond=0),
        mlflow_run_id=run_id,
        numeric_environment=numeric_environment,
        reference_file=REFERENCE_FILE if reference_sha256 else None,
        reference_sha256=reference_sha256,
        encoder_file=PLAN_FILE if encoder_sha256 else None,
        encoder_sha256=encoder_sha256,
    )


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # pragma: no cover - non-glibc platforms
        return False
    at_fdcwd = -100
    result: int = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def write_model_dir(
    target: Path, model_bytes: bytes, manifest: Manifest, extras: Mapping[str, bytes] | None = None
) -> None:
    """Write into a sibling temp dir, then swap it in with one rename; readers see old or new, never a mix.

    `extras`: the files the manifest hashes beside the model (reference distribution, encoder plan)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / MODEL_FILE).write_bytes(model_bytes)
        for name, data in (extras or {}).items():
            (staging / name).write_bytes(data)
        (staging / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
        staging.chmod(0o755)
        if not target.exists():
            staging.rename(target)
            return
        if _exchange(staging, target):
            return  # staging now holds the previous directory; removed below
        # Fallback: two renames, leaving a moment with no directory (the service keeps its model in memory).
        retired = staging.with_name(staging.name + ".old")  # pragma: no cover - only without renameat2
        target.rename(retired)  # pragma: no cover
        staging.rename(target)  # pragma: no cover
        staging = retired  # pragma: no cover
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_model_dir(
    result: TrainResult,
    target: Path,
    profile_path: Path,
    run_id: str | None = None,
    numeric_environment: dict[str, str] | None = None,
) -> Manifest:
    """`numeric_environment`: where the pipeline was trained (a promoted run's tags); default, this process."""
    model_bytes = serialize_pipeline(result)
    model_sha256 = sha256_bytes(model_bytes)
    reference = build_reference(result, load_profile(profile_path)[0]).to_json().encode()
    encoder = plan_of(result.pipeline)[0].to_json().encode()
    manifest = build_manifest(
        result,
        model_sha256=model_sha256,
        profile_sha256=sha256_file(profile_path),
        version=next_version(target, model_sha256),
        run_id=run_id,
        reference_sha256=sha256_bytes(reference),
        encoder_sha256=sha256_bytes(encoder),
        numeric_environment=numerics.current().tags() if numeric_environment is None else numeric_environment,
    )
    write_model_dir(target, model_bytes, manifest, {REFERENCE_FILE: reference, PLAN_FILE: encoder})
    return manifest

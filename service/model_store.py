"""Loading, verifying and hot-swapping the model directory; readiness derived from what is really on disk.

Never raises into the server: a missing or bad model becomes a reason on the health endpoint, and the
last good model (if any) keeps answering.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from service.encoding import FastEncoder, UnsupportedPipeline, plan_of
from service.manifest import MANIFEST_FILE, MODEL_FILE, Manifest, read_manifest
from service.plan import EncoderPlan
from service.reference import Reference

log = logging.getLogger("churnguard.model")
M = TypeVar("M", bound=BaseModel)


class ModelLoadError(Exception):
    """The model directory cannot be served. `reason` says why and what to do in words fit for the open
    /health endpoint (file names, no paths or hashes); the message adds the detail for the log."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason if detail is None else f"{reason} ({detail})")
        self.reason = reason


@dataclass(frozen=True)
class FileStamp:
    """Cheap identity of a file: a change in any part means the bytes may have changed."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    encoder: FastEncoder
    model_path: Path
    stamp: FileStamp
    loaded_at: datetime
    reference: Reference | None = None

    @property
    def version(self) -> str:
        return self.manifest.version


class ReasonCode(StrEnum):
    """Why the model is not ready, machine-readable: a bounded label set for metrics and alerts."""

    OK = "ok"
    NO_MODEL = "no_model"
    MODEL_FILE_MISSING = "model_file_missing"
    MODEL_FILE_CHANGED = "model_file_changed"
    RELOAD_FAILED = "reload_failed"


@dataclass(frozen=True)
class Health:
    healthy: bool
    model_loaded: bool
    model_version: str | None
    reason: str | None
    code: ReasonCode = ReasonCode.OK


def load_model_dir(
    directory: Path, profile_sha256: str, features: tuple[str, ...], *, from_plan: bool = False
) -> LoadedModel:
    """Read and verify a model directory: manifest, model hash, profile hash, features, fast path.

    `from_plan`: score from the hashed encoder plan without unpickling the model, when the plan holds the
    whole model (the weekly command: it spares the import of scikit-learn). Every hash is checked either way."""
    manifest = _manifest(directory)
    model_path = directory / manifest.model_file
    # Stamp before reading: if the file is replaced in between, health sees a changed stamp and re-hashes.
    stamp = FileStamp.of(model_path)
    try:
        # Hash exactly the bytes that get unpickled, so no swap can slip in between check and load.
        data = model_path.read_bytes()
    except OSError as exc:
        name = manifest.model_file
        raise ModelLoadError(f"{name} is missing or unreadable ({exc.strerror}): restore it", str(model_path)) from exc
    if stamp is None:
        raise ModelLoadError(f"{manifest.model_file} was replaced while loading: retrying on the next check")
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.model_sha256:
        raise ModelLoadError(
            f"{manifest.model_file} does not have the SHA-256 {MANIFEST_FILE} names: "
            "the file is corrupt or from another model; re-promote the model",
            f"{model_path} has {actual}, the manifest says {manifest.model_sha256}",
        )
    if manifest.profile_sha256 != profile_sha256:
        raise ModelLoadError(
            f"model version {manifest.version} was trained against another data profile than the service "
            "validates with: retrain against the current profile",
            f"trained on {manifest.profile_sha256}, serving {profile_sha256}",
        )
    if tuple(manifest.features) != features:
        raise ModelLoadError(f"model version {manifest.version} expects features {manifest.features}")
    plan = _plan(directory, manifest)
    if from_plan and plan is not None and plan.head is not None:
        encoder = FastEncoder(plan)
        return LoadedModel(manifest, encoder, model_path, stamp, datetime.now(UTC), _reference(directory, manifest))
    pipeline = _unpickled(manifest, data, model_path)
    try:
        fitted, estimator = plan_of(pipeline)
    except UnsupportedPipeline as exc:
        raise ModelLoadError(f"{manifest.model_file}: {exc}") from exc
    if plan is not None and plan != fitted:
        raise ModelLoadError(
            f"{manifest.encoder_file} is not the arithmetic of {manifest.model_file}: re-promote the model"
        )
    encoder = FastEncoder(fitted, estimator)
    return LoadedModel(manifest, encoder, model_path, stamp, datetime.now(UTC), _reference(directory, manifest))


def _manifest(directory: Path) -> Manifest:
    if not directory.is_dir():
        raise ModelLoadError("no model directory: train and promote a model into it", str(directory))
    try:
        return read_manifest(directory)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{MANIFEST_FILE} is missing: the directory is not a model", str(directory)) from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{MANIFEST_FILE} is unreadable or invalid", f"{directory}: {exc}") from exc


def _unpickled(manifest: Manifest, data: bytes, model_path: Path) -> Any:
    """The scikit-learn Pipeline in `data` (bytes already checked against the manifest)."""
    # Imported here: scikit-learn, SciPy's statistics and pandas cost ~4 s, which a plan-only load never pays.
    import joblib  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    try:
        pipeline = joblib.load(io.BytesIO(data))
    except Exception as exc:  # unpickling can raise anything; all of it means "cannot serve this file"
        name = manifest.model_file
        raise ModelLoadError(f"{name} cannot be loaded: {type(exc).__name__}", f"{model_path}: {exc}") from exc
    if not isinstance(pipeline, Pipeline):
        kind = type(pipeline).__name__
        raise ModelLoadError(f"{manifest.model_file} holds a {kind}, not a scikit-learn Pipeline")
    return pipeline


def _hashed(directory: Path, name: str, sha256: str) -> bytes:
    """The bytes of `name`, which must have the SHA-256 the manifest gives."""
    try:
        raw = (directory / name).read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{name} is missing or unreadable ({exc.strerror}): re-promote the model") from exc
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ModelLoadError(f"{name} does not have the SHA-256 {MANIFEST_FILE} names: re-promote the model")
    return raw


def _artefact(directory: Path, name: str | None, sha256: str | None, kind: type[M], what: str) -> M | None:
    """A hashed file the manifest names beside the model, parsed as `kind`; None for a directory from before
    the manifest named one."""
    if name is None or sha256 is None:
        return None
    raw = _hashed(directory, name, sha256)
    try:
        return kind.model_validate_json(raw)
    except ValueError as exc:
        raise ModelLoadError(f"{name} is not a valid {what}", str(exc)) from exc


def _plan(directory: Path, manifest: Manifest) -> EncoderPlan | None:
    return _artefact(directory, manifest.encoder_file, manifest.encoder_sha256, EncoderPlan, "encoder plan")


def _reference(directory: Path, manifest: Manifest) -> Reference | None:
    return _artefact(directory, manifest.reference_file, manifest.reference_sha256, Reference, "reference")


class ModelStore:
    """Holds the serving model; `refresh` swaps in a changed directory, `health` tells the truth about it."""

    def __init__(self, directory: Path, profile_sha256: str, features: tuple[str, ...]) -> None:
        self.directory = directory
        self._profile_sha256 = profile_sha256
        self._features = features
        self._current: LoadedModel | None = None
        self._error: str | None = None
        self._seen: tuple[FileStamp | None, ...] | None = None
        self._verified: FileStamp | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> LoadedModel | None:
        # A plain attribute read: requests capture one model and finish on it even if a swap happens.
        return self._current

    @property
    def error(self) -> str | None:
        return self._error

    def _fingerprint(self) -> tuple[FileStamp | None, ...]:
        paths = [self.directory / MANIFEST_FILE]
        current = self._current
        paths.append(self.directory / (current.manifest.model_file if current else MODEL_FILE))
        return (FileStamp.of(self.directory), *(FileStamp.of(path) for path in paths))

    def refresh(self, force: bool = False) -> bool:
        """Load the directory if it changed since the last attempt (or `force`); True when a model was swapped in."""
        with self._lock:
            fingerprint = self._fingerprint()
            if fingerprint == self._seen and not force:
                return False
            self._seen = fingerprint
            try:
                loaded = load_model_dir(self.directory, self._profile_sha256, self._features)
            except ModelLoadError as exc:
                self._error = exc.reason
                log.error("model load failed: %s", exc)
                return False
            previous = self._current
            self._current, self._verified, self._error = loaded, loaded.stamp, None
            log.info(
                "model loaded",
                extra={"model_version": loaded.version, "previous_version": previous.version if previous else None},
            )
            return True

    def health(self) -> Health:
        current = self._current
        if current is None:
            return Health(False, False, None, self._error or "no model loaded yet", ReasonCode.NO_MODEL)
        version = current.version
        stamp = FileStamp.of(current.model_path)
        if stamp is None:
            return Health(
                False, True, version,
                f"{current.manifest.model_file} was deleted; still answering from model version {version} in memory: "
                "restore the file or promote a model",
                ReasonCode.MODEL_FILE_MISSING,
            )  # fmt: skip
        if stamp != self._verified:
            # stat said the file changed: only now pay for a hash.
            if _sha256(current.model_path) != current.manifest.model_sha256:
                why = f"; reload failed: {self._error}" if self._error else "; a reload is pending"
                return Health(
                    False, True, version,
                    f"{current.manifest.model_file} on disk is no longer model version {version}{why}",
                    ReasonCode.MODEL_FILE_CHANGED,
                )  # fmt: skip
            self._verified = stamp
        if self._error is not None:
            return Health(
                False, True, version,
                f"serving version {version}, but the new model was refused: {self._error}",
                ReasonCode.RELOAD_FAILED,
            )  # fmt: skip
        return Health(True, True, version, None)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None

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
from pathlib import Path

import joblib
from sklearn.pipeline import Pipeline

from service.encoding import FastEncoder, UnsupportedPipeline
from service.manifest import MANIFEST_FILE, Manifest, read_manifest
from service.reference import Reference

log = logging.getLogger("churnguard.model")


class ModelLoadError(Exception):
    """The model directory cannot be served; the message says why and what to do."""


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


@dataclass(frozen=True)
class Health:
    healthy: bool
    model_loaded: bool
    model_version: str | None
    reason: str | None
    code: str = "ok"  # machine-readable reason: a bounded label set for metrics and alerts


def load_model_dir(directory: Path, profile_sha256: str, features: tuple[str, ...]) -> LoadedModel:
    """Read and verify a model directory: manifest, model hash, profile hash, features, fast path."""
    if not directory.is_dir():
        raise ModelLoadError(f"no model directory at {directory}: train and promote a model into it")
    try:
        manifest = read_manifest(directory)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{directory / MANIFEST_FILE} is missing: the directory is not a model") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{directory / MANIFEST_FILE} is unreadable or invalid: {exc}") from exc
    model_path = directory / manifest.model_file
    # Stamp before reading: if the file is replaced in between, health sees a changed stamp and re-hashes.
    stamp = FileStamp.of(model_path)
    try:
        # Hash exactly the bytes that get unpickled, so no swap can slip in between check and load.
        data = model_path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{model_path} is missing or unreadable ({exc.strerror}): restore it") from exc
    if stamp is None:
        raise ModelLoadError(f"{model_path} was replaced while loading: retrying on the next check")
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.model_sha256:
        raise ModelLoadError(
            f"{model_path} has SHA-256 {actual[:12]}…, manifest says {manifest.model_sha256[:12]}…: "
            "the file is corrupt or from another model; re-promote the model"
        )
    if manifest.profile_sha256 != profile_sha256:
        raise ModelLoadError(
            f"model version {manifest.version} was trained against profile {manifest.profile_sha256[:12]}…, "
            f"the service validates with {profile_sha256[:12]}…: retrain against the current profile"
        )
    if tuple(manifest.features) != features:
        raise ModelLoadError(f"model version {manifest.version} expects features {manifest.features}")
    try:
        pipeline = joblib.load(io.BytesIO(data))
    except Exception as exc:  # unpickling can raise anything; all of it means "cannot serve this file"
        raise ModelLoadError(f"{model_path} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(pipeline, Pipeline):
        raise ModelLoadError(f"{model_path} holds a {type(pipeline).__name__}, not a scikit-learn Pipeline")
    try:
        encoder = FastEncoder(pipeline)
    except UnsupportedPipeline as exc:
        raise ModelLoadError(f"{model_path}: {exc}") from exc
    return LoadedModel(manifest, encoder, model_path, stamp, datetime.now(UTC), _reference(directory, manifest))


def _reference(directory: Path, manifest: Manifest) -> Reference | None:
    """The hashed reference distribution, or None for a directory from before it existed."""
    if manifest.reference_file is None or manifest.reference_sha256 is None:
        return None
    path = directory / manifest.reference_file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path} is missing or unreadable ({exc.strerror}): re-promote the model") from exc
    if hashlib.sha256(raw).hexdigest() != manifest.reference_sha256:
        raise ModelLoadError(f"{path} does not match the manifest's reference_sha256: re-promote the model")
    try:
        return Reference.model_validate_json(raw)
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not a valid reference: {exc}") from exc


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
        paths.append(self.directory / (current.manifest.model_file if current else "model.joblib"))
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
                self._error = str(exc)
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
            return Health(False, False, None, self._error or "no model loaded yet", "no_model")
        version = current.version
        stamp = FileStamp.of(current.model_path)
        if stamp is None:
            return Health(
                False, True, version,
                f"{current.model_path} was deleted; still answering from model version {version} in memory: "
                "restore the file or promote a model",
                "model_file_missing",
            )  # fmt: skip
        if stamp != self._verified:
            # stat said the file changed: only now pay for a hash.
            if _sha256(current.model_path) != current.manifest.model_sha256:
                why = f"; reload failed: {self._error}" if self._error else "; a reload is pending"
                return Health(
                    False, True, version,
                    f"{current.model_path} on disk is no longer model version {version}{why}",
                    "model_file_changed",
                )  # fmt: skip
            self._verified = stamp
        if self._error is not None:
            return Health(
                False, True, version,
                f"serving version {version}, but the new model was refused: {self._error}",
                "reload_failed",
            )  # fmt: skip
        return Health(True, True, version, None)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None

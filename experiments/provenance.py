"""Where a run came from: git state, the lock file and the installed versions, recorded as run tags."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from service.profile import sha256_file

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO_ROOT / "requirements.txt"
# What loading the logged model needs; their pins are copied from the lock into the MLflow model, which
# also spares MLflow its requirement inference (measured at 6-8 s of every run).
MODEL_PACKAGES = ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "skops", "joblib", "threadpoolctl")
KEY_PACKAGES = (*MODEL_PACKAGES, "matplotlib", "pydantic")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")  # extras too: `coverage[toml]==`


class LockError(Exception):
    """The lock file does not pin a package the model needs."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(lock: Path = LOCK_FILE) -> dict[str, str]:
    """`name == version` for every pin in a pip-compile lock (hash lines and comments skipped)."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def model_requirements(lock: Path = LOCK_FILE) -> list[str]:
    pins = lock_pins(lock)
    missing = [name for name in MODEL_PACKAGES if name not in pins]
    if missing:
        raise LockError(f"{lock} pins none of {', '.join(missing)}: recompile the lock")
    return [f"{name}=={pins[name]}" for name in MODEL_PACKAGES]


def _git(*args: str, root: Path) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    # Fixed argv, no shell: only our own read-only git queries run here.
    done = subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(root: Path = REPO_ROOT) -> dict[str, str]:
    """The commit and whether the checkout differed from it (untracked files count: they can be imported)."""
    commit = _git("rev-parse", "HEAD", root=root)
    status = _git("status", "--porcelain", root=root)
    return {
        "git.commit": commit or "unknown",
        "git.dirty": "unknown" if status is None else str(bool(status)).lower(),
    }


def provenance_tags(data_sha256: str, lock: Path = LOCK_FILE, root: Path = REPO_ROOT) -> dict[str, str]:
    tags = {
        **git_state(root),
        "data.sha256": data_sha256,
        "requirements.sha256": sha256_file(lock),
        "python.version": platform.python_version(),
    }
    pins = lock_pins(lock)
    for name in KEY_PACKAGES:
        installed = metadata.version(name)
        tags[f"package.{name}"] = installed
        if pins.get(name) != installed:
            # Recorded, not fatal: a dev env may drift, but the run must say so.
            tags[f"package.{name}.lock"] = pins.get(name, "unpinned")
    return tags

"""Provenance tags and the model's pip requirements come from git and the lock, never from a literal."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from experiments.provenance import (
    LOCK_FILE,
    MODEL_PACKAGES,
    REPO_ROOT,
    LockError,
    git_state,
    lock_pins,
    model_requirements,
    provenance_tags,
)
from service.profile import sha256_file


def test_the_model_requirements_are_the_locks_pins() -> None:
    pins = lock_pins()
    assert pins["scikit-learn"] == metadata.version("scikit-learn")
    assert model_requirements() == [f"{name}=={pins[name]}" for name in MODEL_PACKAGES]


def test_a_lock_missing_a_model_package_is_an_error(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("numpy==2.0.0 \\\n    --hash=sha256:abc\n    # via pandas\n")
    assert lock_pins(lock) == {"numpy": "2.0.0"}
    with pytest.raises(LockError, match="pins none of mlflow, scikit-learn, pandas"):
        model_requirements(lock)


def test_the_git_state_is_the_checkouts(tmp_path: Path) -> None:
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    assert git_state()["git.commit"] == head.stdout.strip()
    assert git_state(tmp_path) == {"git.commit": "unknown", "git.dirty": "unknown"}  # not a repository


def test_without_git_the_state_is_unknown_not_invented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("experiments.provenance.shutil.which", lambda _: None)
    assert git_state() == {"git.commit": "unknown", "git.dirty": "unknown"}


def test_a_dirty_checkout_says_so(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, check=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "a")
    assert git_state(tmp_path)["git.dirty"] == "false"
    (tmp_path / "a.txt").write_text("b")
    assert git_state(tmp_path)["git.dirty"] == "true"


def test_installed_versions_that_drift_from_the_lock_are_recorded(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(LOCK_FILE.read_text().replace(f"numpy=={metadata.version('numpy')}", "numpy==0.0.1"))
    tags = provenance_tags("f" * 64, lock=lock)
    assert tags["package.numpy"] == metadata.version("numpy")
    assert tags["package.numpy.lock"] == "0.0.1"
    assert tags["requirements.sha256"] == sha256_file(lock)
    assert "package.pandas.lock" not in tags

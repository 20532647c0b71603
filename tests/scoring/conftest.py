"""A Scorer over a real trained model directory (with its reference), shared by the weekly-list tests; every
test archives its lists into its own directory (never the checkout's `lists/`); private MLflow stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.weekly import Scorer
from service.model_store import load_model_dir
from service.profile import load_profile
from testkit.paths import PROFILE_PATH
from tests.scoring.kit import scorer_for
from tests.utils.mlflow_stores import store

__all__ = ["store"]


@pytest.fixture(autouse=True)
def private_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    archive = tmp_path / "lists"
    monkeypatch.setenv("CHURN_LIST_ARCHIVE", str(archive))
    return archive


@pytest.fixture(scope="session")
def scorer(_session_model_dir: Path) -> Scorer:
    profile, sha256 = load_profile(PROFILE_PATH)
    model = load_model_dir(_session_model_dir, sha256, tuple(profile.features))
    return scorer_for(model)


@pytest.fixture(scope="session")
def trained_model_dir(_session_model_dir: Path) -> Path:
    """The session's model directory (read only: copy it before changing anything)."""
    return _session_model_dir

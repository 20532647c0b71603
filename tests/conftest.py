"""Shared fixtures: the real profile, a real trained model directory per test, and an app over them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from experiments.cli import DEFAULT_CONFIG
from experiments.config import load_config
from experiments.model_dir import export_model_dir
from experiments.train import TrainResult, train
from service.app import create_app
from service.profile import DataProfile, load_profile
from service.settings import Settings
from testkit.paths import PROFILE_PATH, ROOT


@pytest.fixture(scope="session")
def profile() -> DataProfile:
    return load_profile(PROFILE_PATH)[0]


@pytest.fixture(scope="session")
def baseline_result() -> TrainResult:
    """The baseline config trained once per session on the real data (about 2 s)."""
    config = load_config(ROOT / DEFAULT_CONFIG)
    return train(config.model_copy(update={"data": config.data.model_copy(update={"path": ROOT / config.data.path})}))


@pytest.fixture(scope="session")
def _session_model_dir(tmp_path_factory: pytest.TempPathFactory, baseline_result: TrainResult) -> Path:
    directory = tmp_path_factory.mktemp("model") / "churn"
    export_model_dir(baseline_result, directory, PROFILE_PATH)
    return directory


@pytest.fixture
def model_dir(tmp_path: Path, _session_model_dir: Path) -> Path:
    """A private copy of a real model directory: tests may delete or corrupt it freely."""
    target = tmp_path / "models" / "churn"
    shutil.copytree(_session_model_dir, target)
    return target


@pytest.fixture
def settings(model_dir: Path) -> Settings:
    return Settings(
        model_dir=model_dir, data_profile=PROFILE_PATH, reload_interval_seconds=3600,
        list_archive=model_dir.parent.parent / "lists",
    )  # fmt: skip


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client

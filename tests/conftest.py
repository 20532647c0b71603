"""Shared fixtures: the real profile, a real trained model directory per test, and an app over them; and the order
in which xdist hands out the files."""

from __future__ import annotations

import shutil
from collections import Counter
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
from testkit.process import forget_exported_settings


def pytest_configure(config: pytest.Config) -> None:
    """The suite is hermetic, as `testkit.process.clean_env` already keeps the processes the tests start."""
    forget_exported_settings()


# Tests whose code under test runs in other processes (real servers, child runs), which coverage does not
# measure, or lives in verification/, outside the coverage source. Their calls run with the tracer paused
# (pytest-cov's `no_cover`): they add 0.19 points of coverage that no other test reaches, and tracing them cost
# 92 s of CPU, a third of coverage's cost (measured with `--cov-context=test`, 2026-12-03).
UNTRACED = tuple(Path(__file__).parent / folder for folder in ("verification", "team", "operations"))


@pytest.hookimpl(tryfirst=True)  # before pytest-cov's own sessionstart starts the worker's Coverage
def pytest_sessionstart(session: pytest.Session) -> None:
    """On an xdist worker, pytest-cov 7.1 has already started a second Coverage at conftest loading: the worker
    inherits the master's `-n`, so the plugin takes it for a master. That collector sits under the worker's own and
    resumes tracing whenever `no_cover` stops the worker's, so the mark paused nothing. It is stopped here, before
    the worker's own starts; its data was never sent to the master (test_coverage_scope.py checks the pause)."""
    plugin = session.config.pluginmanager.getplugin("_cov")
    if hasattr(session.config, "workerinput") and plugin is not None and plugin.cov_controller is not None:
        plugin.cov_controller.cov.stop()


@pytest.hookimpl(trylast=True)  # after the folders' own hooks have marked their items slow
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked `long(seconds)` first, longest first; then files with a `slow` test, then the rest, each of
    these with the most tests first (xdist's own rule). A file's tests stay together and in their order. With
    `--dist loadfile` and xdist's reordering off (pyproject addopts) the workers take the files in this order:
    xdist's default, most tests first, left files of one to five long tests (the team server, the soak, the
    reproducibility proofs) to the end of the run, each on one worker while the others had finished.
    The UNTRACED folders' tests are marked `no_cover`."""
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in UNTRACED):
            item.add_marker(pytest.mark.no_cover)
    rank: dict[Path, tuple[int, float]] = {}
    counts = Counter(item.path for item in items)
    for item in items:
        long = item.get_closest_marker("long")
        if long is not None:
            if not long.args:
                raise pytest.UsageError(f"{item.nodeid}: `long` needs the file's seconds, as in long(30)")
            rank[item.path] = min((0, -float(long.args[0])), rank.get(item.path, (3, 0.0)))
        else:
            own = (1 if item.get_closest_marker("slow") else 2, -float(counts[item.path]))
            rank[item.path] = min(own, rank.get(item.path, own))
    items.sort(key=lambda item: rank[item.path])  # stable


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

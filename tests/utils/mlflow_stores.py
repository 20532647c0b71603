"""MLflow store fixtures for the experiment and team tests: a private store per test, and config files to run.
Imported by the conftest of each folder that needs them, so they are scoped to it.

Every test gets its own store, written from the one migrated per process (testkit.stores).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest

from experiments.store import Store
from testkit.paths import ROOT
from testkit.stores import empty_store

CONFIGS = ROOT / "experiments" / "configs"
DATA_PATH = ROOT / "data" / "telco_customer_churn.csv"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A private SQLite store with its artifacts beside it; the default URI points here too, so nothing a
    test does can reach the developer's own `mlflow.db`."""
    directory = tmp_path / "mlflow"
    directory.mkdir()
    uri = empty_store(directory / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    yield Store.at(uri)
    while mlflow.active_run() is not None:  # a failed test must not leave a run open for the next one
        mlflow.end_run()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Path]:
    """`make_config("logreg_c01", C="0.5")`: a shipped config, adjusted, written to this test's tmp_path."""

    def make(source: str = "baseline", **replacements: str) -> Path:
        return write_config(tmp_path, source, **replacements)

    return make


def write_config(directory: Path, source: str = "baseline", **replacements: str) -> Path:
    """A copy of a shipped config, with its data path made absolute and `old=new` line replacements.

    Keys are the text before ` = ` on a line (e.g. `C`, `seed`, `name`); values are TOML literals.
    """
    lines = (CONFIGS / f"{source}.toml").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        key = line.split(" = ", 1)[0]
        if key == "path":
            out.append(f'path = "{DATA_PATH.as_posix()}"')
        elif key in replacements:
            out.append(f"{key} = {replacements.pop(key)}")
        else:
            out.append(line)
    if replacements:
        raise KeyError(f"{source}.toml has no lines for {sorted(replacements)}")
    path = directory / f"{source}-{len(list(directory.glob('*.toml')))}.toml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path

"""The harness kit itself: a clean environment, settings by field name, a stop that escalates to SIGKILL and
returns the exit status, a failed start that says why (its log) as soon as the process exits, and empty MLflow
stores that are already migrated."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import pytest

from testkit.process import DidNotStart, clean_env, start
from testkit.service import launch, settings_env
from testkit.stores import empty_store

# Ignores SIGTERM, says so, then waits: only SIGKILL ends it.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ignoring', flush=True); time.sleep(60)"
)


def test_a_clean_environment_drops_every_churn_and_proxy_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHURN_API_KEYS", "CHURN_PORT", "http_proxy", "HTTPS_PROXY", "ALL_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "inherited")
    monkeypatch.setenv("CHURNED", "kept")  # only the CHURN_ prefix is the service's
    env = clean_env({"CHURN_PORT": "1234"})
    assert env["CHURN_PORT"] == "1234"
    assert env["CHURNED"] == "kept"
    assert env["PATH"]
    assert not {"CHURN_API_KEYS", "http_proxy", "HTTPS_PROXY", "ALL_PROXY", "no_proxy"} & set(env)


def test_settings_are_given_by_field_name_and_a_wrong_name_is_refused() -> None:
    env = settings_env(api_keys=("k1", "k2"), protect_metrics=True, model_dir=Path("/m"), reload_interval_seconds=0.5)
    assert env == {
        "CHURN_API_KEYS": "k1,k2",
        "CHURN_PROTECT_METRICS": "true",
        "CHURN_MODEL_DIR": "/m",
        "CHURN_RELOAD_INTERVAL_SECONDS": "0.5",
    }
    with pytest.raises(TypeError, match="api_key"):
        settings_env(api_key="typo")


def test_stop_escalates_to_sigkill_after_its_deadline_and_returns_the_status(tmp_path: Path) -> None:
    stubborn = start("stubborn", [sys.executable, "-c", STUBBORN], log_path=tmp_path / "log", env=clean_env())
    stubborn.wait_up(lambda: "ignoring" in stubborn.log(), 30, "its first line")
    started = time.monotonic()
    assert stubborn.stop(timeout=0.5) == -9
    assert time.monotonic() - started < 5
    polite = start("polite", [sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "p", env={})
    assert polite.stop() == -15


def test_a_failed_start_fails_at_once_with_the_services_log(tmp_path: Path) -> None:
    started = time.monotonic()
    with (
        pytest.raises(DidNotStart, match=r"(?s)exited with 2 .*cannot read keys file") as failed,
        launch(tmp_path, keys_file=tmp_path / "missing", startup_timeout=60),
    ):
        pass  # pragma: no cover - never entered
    assert time.monotonic() - started < 30, "waited for the deadline instead of the exit"
    assert "refusing to start" in str(failed.value)


def test_an_empty_store_is_migrated_and_each_is_its_own_file(tmp_path: Path) -> None:
    """Migrated before MLflow ever opens it (the CPU it saves); its own file: nothing one test or child logs
    reaches another's store."""
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    assert empty_store(first) == f"sqlite:///{first}"
    empty_store(second)
    with sqlite3.connect(first) as db:
        assert len(db.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
        db.execute("INSERT INTO experiments (name, lifecycle_stage) VALUES ('only-here', 'active')")
    with sqlite3.connect(second) as db:
        assert db.execute("SELECT count(*) FROM experiments WHERE name = 'only-here'").fetchone() == (0,)

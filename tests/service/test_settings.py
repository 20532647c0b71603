"""Settings: CHURN_-prefixed environment variables, safe defaults, and invalid values refused at startup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees exactly the CHURN_ variables it sets, whatever the developer's shell exports."""
    for name in os.environ:
        if name.upper().startswith("CHURN_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.model_dir == Path("models/churn")
    assert settings.data_profile == Path("data_profile.json")
    assert settings.max_batch == 10_000
    assert settings.max_body_bytes == 8 * 1024 * 1024
    assert settings.log_level == "INFO"
    assert settings.reload_interval_seconds == 1.0
    assert settings.workers == 1


def test_every_field_is_read_from_its_churn_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "CHURN_HOST": "0.0.0.0",  # noqa: S104 - a deliberate override, which is exactly what is tested
        "CHURN_PORT": "9001",
        "CHURN_MODEL_DIR": str(tmp_path / "m"),
        "CHURN_DATA_PROFILE": str(tmp_path / "p.json"),
        "CHURN_MAX_BATCH": "17",
        "CHURN_MAX_BODY_BYTES": "4096",
        "CHURN_MAX_WEEKLY_BYTES": "8192",
        "CHURN_LOG_LEVEL": "DEBUG",
        "CHURN_RELOAD_INTERVAL_SECONDS": "0.5",
        "CHURN_API_KEYS": "p1, p2",
        "CHURN_ADMIN_KEYS": "a1",
        "CHURN_KEYS_FILE": str(tmp_path / "keys"),
        "CHURN_ALLOW_UNAUTHENTICATED": "true",
        "CHURN_PROTECT_METRICS": "true",
        "CHURN_REQUEST_TIMEOUT_SECONDS": "2.5",
        "CHURN_CLIENT_TIMEOUT_SECONDS": "4.5",
        "CHURN_SHUTDOWN_GRACE_SECONDS": "7",
        "CHURN_LIST_ARCHIVE": str(tmp_path / "lists"),
        "CHURN_LIST_TRACKING_URI": "http://127.0.0.1:5000",
        "CHURN_CHALLENGER_DIR": str(tmp_path / "challenger"),
        "CHURN_WORKERS": "3",
        "CHURN_DRIFT_WINDOW": "500",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    dumped = settings.model_dump()
    assert [k.get_secret_value() for k in dumped.pop("api_keys")] == ["p1", "p2"]
    assert [k.get_secret_value() for k in dumped.pop("admin_keys")] == ["a1"]
    assert dumped == {
        "host": "0.0.0.0",  # noqa: S104
        "port": 9001,
        "model_dir": tmp_path / "m",
        "data_profile": tmp_path / "p.json",
        "max_batch": 17,
        "max_body_bytes": 4096,
        "max_weekly_bytes": 8192,
        "log_level": "DEBUG",
        "reload_interval_seconds": 0.5,
        "keys_file": tmp_path / "keys",
        "allow_unauthenticated": True,
        "protect_metrics": True,
        "request_timeout_seconds": 2.5,
        "client_timeout_seconds": 4.5,
        "shutdown_grace_seconds": 7,
        "list_archive": tmp_path / "lists",
        "list_tracking_uri": "http://127.0.0.1:5000",
        "challenger_dir": tmp_path / "challenger",
        "workers": 3,
        "drift_window": 500,
    }
    assert set(values) == {f"CHURN_{name.upper()}" for name in Settings.model_fields}


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("MAX_BATCH", "1")
    assert Settings().port == 8000
    assert Settings().max_batch == 10_000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHURN_HOST", ""),  # asyncio would listen on every interface
        ("CHURN_PORT", "-1"),
        ("CHURN_PORT", "65536"),
        ("CHURN_PORT", "http"),
        ("CHURN_MAX_BATCH", "0"),
        ("CHURN_MAX_BATCH", "many"),
        ("CHURN_MAX_BODY_BYTES", "1023"),
        ("CHURN_MAX_BODY_BYTES", "8MiB"),
        ("CHURN_LOG_LEVEL", "LOUD"),
        ("CHURN_LOG_LEVEL", "TRACE"),
        ("CHURN_RELOAD_INTERVAL_SECONDS", "0"),
        ("CHURN_RELOAD_INTERVAL_SECONDS", "-1"),
        ("CHURN_RELOAD_INTERVAL_SECONDS", "3601"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [error["loc"] for error in raised.value.errors()] == [(name.removeprefix("CHURN_").lower(),)]


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="max_batch_size"):
        Settings(max_batch_size=5)  # type: ignore[call-arg]


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]

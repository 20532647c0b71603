"""Sabotage proof for the health check: a server whose health handler always says healthy must fail it; the
committed service passes it, whatever CHURN_* variables the caller's shell exports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from verification.health import check_health

# Run as a script: the real service, with the one fault the check exists for.
ALWAYS_HEALTHY = """
from service.model_store import Health, ModelStore

def always_healthy(self):
    current = self.current
    return Health(True, current is not None, current.version if current else None, None)

ModelStore.health = always_healthy

from service.__main__ import main

main()
"""


@pytest.mark.slow
def test_a_health_handler_that_always_says_healthy_is_caught(tmp_path: Path) -> None:
    script = tmp_path / "always_healthy.py"
    script.write_text(ALWAYS_HEALTHY, encoding="utf-8")
    result = check_health(command=(sys.executable, str(script)), deadline=1.0)
    assert not result.passed
    assert any(
        f.startswith("GET /health still answered 200") and "model.joblib was deleted" in f for f in result.failures
    )
    assert any(f.startswith("no model: GET /health/ready: answered 200") for f in result.failures), result.failures
    assert "seconds_to_unhealthy" not in result.evidence


@pytest.mark.slow
def test_the_committed_service_passes_with_keys_exported_in_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell: keys and a proxy exported. The check starts the service from the harness defaults
    # (loopback, no keys), so neither may reach it (the keys used to turn the 503 steps into 401s).
    monkeypatch.setenv("CHURN_API_KEYS", "a-developers-key")
    monkeypatch.setenv("CHURN_ADMIN_KEYS", "a-developers-admin-key")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    result = check_health()
    assert result.passed, result.failures
    assert result.evidence["requests_to_unhealthy"] == 1
    assert 0 < result.evidence["seconds_to_unhealthy"] < 1.0

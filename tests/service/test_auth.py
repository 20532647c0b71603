"""Access control: keys as hashes, 401/403 problem answers, open probes, safe defaults for exposure."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.app import create_app
from service.auth import KeyFileError, KeyRing, Role
from service.settings import Settings
from testkit.customers import customer
from tests.utils.clients import client_with
from tests.utils.problems import assert_problem

PREDICT_KEY = "predict-key-5f2c"
ADMIN_KEY = "admin-key-9d41"


def _keyed(settings: Settings, **overrides: object) -> TestClient:
    return client_with(settings, api_keys=(PREDICT_KEY,), admin_keys=(ADMIN_KEY,), **overrides)


def test_without_a_key_predictions_are_refused_with_401(settings: Settings) -> None:
    with _keyed(settings) as client:
        answer = client.post("/predict", json=customer())
        body = assert_problem(answer, 401)
        assert "Authorization: Bearer" in body["detail"]
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert_problem(client.post("/predict", json=customer(), headers={"X-API-Key": "guess"}), 401)
        assert_problem(client.get("/model"), 401)


def test_auth_is_checked_before_the_body_is_read(settings: Settings) -> None:
    with _keyed(settings) as client:
        answer = client.post("/predict", content=b"{not json", headers={"Content-Type": "application/json"})
        assert_problem(answer, 401)


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_predict_key_predicts_through_either_header(settings: Settings, header: str) -> None:
    value = f"Bearer {PREDICT_KEY}" if header == "Authorization" else PREDICT_KEY
    with _keyed(settings) as client:
        assert client.post("/predict", json=customer(), headers={header: value}).status_code == 200
        assert client.get("/model", headers={header: value}).status_code == 200


def test_admin_reload_needs_the_admin_role(settings: Settings) -> None:
    with _keyed(settings) as client:
        body = assert_problem(client.post("/admin/reload", headers={"X-API-Key": PREDICT_KEY}), 403)
        assert "admin" in body["detail"]
        answer = client.post("/admin/reload", headers={"X-API-Key": ADMIN_KEY})
        assert answer.status_code == 200
        assert answer.json()["status"] == "healthy"
        assert client.post("/predict", json=customer(), headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_probes_stay_open_and_metrics_are_protected_only_on_request(settings: Settings) -> None:
    with _keyed(settings) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 200
        assert client.get("/metrics").status_code == 200
    with _keyed(settings, protect_metrics=True) as client:
        assert_problem(client.get("/metrics"), 401)
        assert client.get("/metrics", headers={"X-API-Key": PREDICT_KEY}).status_code == 200


def test_keys_never_reach_the_logs(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with _keyed(settings) as client:
        client.post("/predict", json=customer(), headers={"Authorization": f"Bearer {PREDICT_KEY}"})
        client.post("/predict", json=customer(), headers={"X-API-Key": ADMIN_KEY + "-wrong"})
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "request" in text
    assert PREDICT_KEY not in text
    assert ADMIN_KEY not in text


def test_a_keys_file_holds_only_digests(settings: Settings, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    digest = hashlib.sha256(b"from-the-file").hexdigest()
    keys_file.write_text(f"# role digest\npredict {digest}\n\nadmin {hashlib.sha256(b'boss').hexdigest()}\n")
    with client_with(settings, keys_file=keys_file) as client:
        assert client.post("/predict", json=customer(), headers={"X-API-Key": "from-the-file"}).status_code == 200
        assert_problem(client.post("/admin/reload", headers={"X-API-Key": "from-the-file"}), 403)
        assert client.post("/admin/reload", headers={"X-API-Key": "boss"}).status_code == 200


@pytest.mark.parametrize("content", ["predict not-hex-not-hex", "owner " + "a" * 64, "predict " + "z" * 64, "predict"])
def test_a_malformed_keys_file_stops_the_service_from_starting(
    settings: Settings, tmp_path: Path, content: str
) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(content + "\n")
    with pytest.raises(KeyFileError, match="keys:1"):
        create_app(Settings(**{**settings.model_dump(), "keys_file": keys_file}))
    with pytest.raises(KeyFileError, match="cannot read"):
        KeyRing.build((), (), tmp_path / "absent")


def test_roles_are_granted_per_key() -> None:
    ring = KeyRing.build(["p"], ["a"], None)
    assert ring.roles_for("p") == frozenset({Role.PREDICT})
    assert ring.roles_for("a") == frozenset({Role.PREDICT, Role.ADMIN})
    assert ring.roles_for("x") is None
    assert not KeyRing.build([], [], None).enabled


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_may_run_without_keys(host: str) -> None:
    assert Settings(host=host).host == host


def test_an_exposed_address_without_keys_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="CHURN_ALLOW_UNAUTHENTICATED"):
        Settings(host="0.0.0.0")  # noqa: S104 - the exposure under test
    assert Settings(host="0.0.0.0", api_keys=("k",)).auth_configured  # noqa: S104
    assert Settings(host="10.1.2.3", allow_unauthenticated=True).host == "10.1.2.3"

"""Access control on a real `python -m service` process: keys from the environment or from a file of SHA-256
digests; 401 without a key, 200 with one, probes and metrics open; and a non-loopback bind without keys refuses
to start with a message that says what to set."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.client import fetch
from testkit.customers import customer
from testkit.net import accepts_connections, free_port
from testkit.process import wait_for
from testkit.service import Service, launch, start_service

pytestmark = pytest.mark.slow

PREDICT_KEY = "ops-predict-key-7c1e"
ADMIN_KEY = "ops-admin-key-2b9f"
REFUSAL_SECONDS = 30


def _sha256sum(key: str) -> str:
    """The README's recipe, `printf %s KEY | sha256sum`, run for real."""
    result = subprocess.run(
        ["sha256sum"], input=key.encode(), capture_output=True, timeout=10, check=True
    )  # coreutils' sha256sum, as an operator would run it
    return result.stdout.decode().split()[0]


@pytest.fixture(scope="module", params=["env", "keys-file"])
def keyed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _session_model_dir: Path
) -> Iterator[Service]:
    """The service with one predict and one admin key, given as CHURN_API_KEYS/CHURN_ADMIN_KEYS or as a file."""
    tmp_path = tmp_path_factory.mktemp(f"access-{request.param}")
    model_dir = tmp_path / "models" / "churn"
    shutil.copytree(_session_model_dir, model_dir)
    settings: dict[str, Any]  # Settings fields, passed through to the service's environment
    if request.param == "env":
        settings = {"api_keys": PREDICT_KEY, "admin_keys": ADMIN_KEY}
    else:
        keys_file = tmp_path / "keys"
        keys_file.write_text(
            f"# role  sha256 of the key\npredict {_sha256sum(PREDICT_KEY)}\nadmin {_sha256sum(ADMIN_KEY)}\n",
            encoding="utf-8",
        )
        settings = {"keys_file": keys_file}
    with launch(tmp_path, model_dir=model_dir, **settings) as service:
        yield service


def test_the_readme_recipe_for_a_key_digest_is_the_service_digest() -> None:
    assert _sha256sum(PREDICT_KEY) == hashlib.sha256(PREDICT_KEY.encode()).hexdigest()


def test_without_a_valid_key_predictions_get_401(keyed: Service) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": PREDICT_KEY}):
        answer = fetch(keyed.port, "POST", "/predict", customer(), headers=headers)
        assert answer.status == 401, headers
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert fetch(keyed.port, "GET", "/model").status == 401
    assert fetch(keyed.port, "POST", "/predict/batch", {"customers": [customer()]}).status == 401


def test_with_a_key_predictions_get_200_and_only_admin_keys_reload(keyed: Service) -> None:
    for headers in ({"Authorization": f"Bearer {PREDICT_KEY}"}, {"X-API-Key": PREDICT_KEY}, {"X-API-Key": ADMIN_KEY}):
        answer = fetch(keyed.port, "POST", "/predict", customer(), headers=headers)
        assert answer.status == 200, answer.body
        assert answer.json()["model_version"]
    assert fetch(keyed.port, "GET", "/model", headers={"X-API-Key": PREDICT_KEY}).status == 200
    assert fetch(keyed.port, "POST", "/admin/reload", headers={"X-API-Key": PREDICT_KEY}).status == 403
    assert fetch(keyed.port, "POST", "/admin/reload", headers={"X-API-Key": ADMIN_KEY}).status == 200


def test_probes_and_metrics_stay_open_and_no_key_reaches_the_log(keyed: Service) -> None:
    for path in ("/health/live", "/health/ready", "/health", "/metrics"):
        assert fetch(keyed.port, "GET", path).status == 200, path
    fetch(keyed.port, "POST", "/predict", customer(), headers={"X-API-Key": PREDICT_KEY})
    typo = fetch(keyed.port, "POST", "/predict", customer(), headers={"X-API-Key": ADMIN_KEY + "-typo"})
    assert typo.status == 401
    # The access line is written as the answer leaves: wait until the refused request's line is there.
    wait_for(lambda: typo.headers["x-request-id"] in keyed.log(), 10, "the access line")
    log = keyed.log()
    assert PREDICT_KEY not in log
    assert ADMIN_KEY not in log


def _refused(tmp_path: Path, port: int, **settings: Any) -> tuple[int, str, float]:
    """Start the service expecting it to refuse; its exit status, log and seconds taken. Never left running."""
    started = time.monotonic()
    service = start_service(tmp_path, port=port, **settings)
    try:
        code = service.process.wait(timeout=REFUSAL_SECONDS)
    finally:
        service.stop()
    return code, service.log(), time.monotonic() - started


def test_a_non_loopback_bind_without_keys_refuses_to_start(model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    # The exposure under test; it must refuse.
    code, stderr, seconds = _refused(tmp_path, port, model_dir=model_dir, host="0.0.0.0")  # noqa: S104
    assert code != 0
    assert (
        "CHURN_HOST=0.0.0.0 is reachable from other machines but no API keys are set: set CHURN_API_KEYS / "
        "CHURN_ADMIN_KEYS / CHURN_KEYS_FILE, or CHURN_ALLOW_UNAUTHENTICATED=true" in stderr
    )
    assert "Uvicorn running" not in stderr
    assert not accepts_connections(port)
    assert seconds < REFUSAL_SECONDS


def test_an_unreadable_keys_file_refuses_to_start_rather_than_serve_open(model_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-keys-file"
    code, stderr, _ = _refused(tmp_path, free_port(), model_dir=model_dir, keys_file=missing)
    assert code != 0
    assert f"cannot read keys file {missing}" in stderr

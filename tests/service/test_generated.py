"""Generated files are current: the committed profile and OpenAPI document equal a fresh regeneration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experiments.cli import main as experiments_main
from service.spec import main as spec_main
from testkit.paths import ROOT


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the commands' defaults are the repository's relative paths


def test_committed_profile_equals_a_fresh_regeneration(capsys: pytest.CaptureFixture[str]) -> None:
    assert experiments_main(["profile", "--check"]) == 0
    assert "is current" in capsys.readouterr().out


def test_profile_check_fails_on_a_stale_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "data_profile.json"
    profile = json.loads((ROOT / "data_profile.json").read_text())
    profile["features"]["tenure"]["max"] = 100  # a hand edit the data does not support
    stale.write_text(json.dumps(profile, indent=2) + "\n")
    assert experiments_main(["profile", "--check", "--output", str(stale)]) == 1
    assert "is stale" in capsys.readouterr().out


def test_profile_command_writes_the_same_bytes(tmp_path: Path) -> None:
    target = tmp_path / "profile.json"
    assert experiments_main(["profile", "--output", str(target)]) == 0
    assert target.read_bytes() == (ROOT / "data_profile.json").read_bytes()


def test_committed_openapi_equals_a_fresh_regeneration() -> None:
    assert spec_main(["--check"]) == 0


def test_openapi_check_fails_on_a_stale_document(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    shutil.copy(ROOT / "openapi.json", stale)
    spec = json.loads(stale.read_text())
    del spec["components"]["schemas"]["Customer"]["properties"]["tenure"]["maximum"]
    stale.write_text(json.dumps(spec))
    assert spec_main(["--check", "--output", str(stale)]) == 1
    assert spec_main(["--output", str(stale)]) == 0
    assert stale.read_text() == (ROOT / "openapi.json").read_text()


def test_openapi_publishes_the_profile_bounds_and_problem_responses() -> None:
    spec = json.loads((ROOT / "openapi.json").read_text())
    customer = spec["components"]["schemas"]["Customer"]
    assert customer["properties"]["tenure"]["minimum"] == 0
    assert customer["properties"]["tenure"]["maximum"] == 72
    assert "Fiber optic" in customer["properties"]["internet_service"]["enum"]
    assert customer["additionalProperties"] is False
    responses = spec["paths"]["/predict"]["post"]["responses"]
    for status in ("400", "413", "415", "422", "500", "503"):
        assert list(responses[status]["content"]) == ["application/problem+json"], status

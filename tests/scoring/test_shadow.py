"""The challenger in shadow: it scores every request and every list, its answers are never returned, and a
corrupt, absent or failing challenger never touches the champion's answers or readiness."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from experiments.train import TrainResult
from scoring.archive import entries
from scoring.cli import main
from scoring.report import render
from service.settings import Settings
from testkit.customers import customer
from testkit.paths import DATA, PROFILE_PATH
from tests.utils.clients import client_with
from tests.utils.models import exploding, publish, publish_bytes, retrained

CSV = {"content-type": "text/csv"}
BATCH = b"".join(DATA.read_bytes().splitlines(keepends=True)[:201])  # header + 200 customers


def _metric(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found is not None, name
    return float(found[1])


@pytest.fixture(scope="module")
def challenger_result(baseline_result: TrainResult) -> TrainResult:
    """A real variant: stronger regularisation, so its probabilities differ from the champion's."""
    return retrained(baseline_result, C=0.02)


@pytest.fixture
def challenger_dir(tmp_path: Path, challenger_result: TrainResult) -> Path:
    target = tmp_path / "challenger"
    publish(challenger_result, target, "c1")
    return target


@pytest.fixture
def shadowed(settings: Settings, challenger_dir: Path) -> Iterator[TestClient]:
    with client_with(settings, challenger_dir=challenger_dir) as client:
        yield client


def _answers(client: TestClient) -> tuple[dict[str, object], list[object], bytes, bytes]:
    one = client.post("/predict", json=customer()).json()
    one.pop("request_id")
    customers = [customer(tenure=t) for t in (1, 30, 70)]
    json_batch = client.post("/predict/batch", json={"customers": customers}).json()["predictions"]
    for answer in json_batch:
        answer.pop("request_id")
    batch = client.post("/predict/batch", content=BATCH, headers={**CSV, "accept": "text/csv"}).content
    listed = client.post(
        "/predict/weekly?top=100&week=2026-W49", content=DATA.read_bytes(), headers={**CSV, "accept": "text/csv"}
    )
    return one, json_batch, batch, listed.content


def test_answers_are_the_champions_whatever_the_challenger_says(client: TestClient, shadowed: TestClient) -> None:
    alone, watched = _answers(client), _answers(shadowed)
    assert watched == alone
    assert watched[0]["model_version"] == "1"
    # The twin that makes the equality mean something: the challenger really scores differently.
    assert _metric(shadowed, "churn_shadow_abs_delta_sum") > 0
    assert _metric(shadowed, "churn_shadow_rows_total") == 1 + 3 + 200
    assert _metric(shadowed, "churn_shadow_abs_delta_count") == 1 + 3 + 200
    assert _metric(shadowed, "churn_shadow_disagreements_total") >= 1
    assert _metric(shadowed, "churn_challenger_ready") == 1
    assert 'churn_challenger_info{mlflow_run_id="",version="c1"} 1.0' in shadowed.get("/metrics").text
    assert 0 < _metric(shadowed, 'churn_shadow_list_jaccard{cut="top 10%"}') < 1


def test_the_weekly_list_compares_both_and_archives_the_challengers_beside(
    shadowed: TestClient, tmp_path: Path
) -> None:
    answer = shadowed.post("/predict/weekly?top=100&week=2026-W49", content=DATA.read_bytes(), headers=CSV).json()
    shadow = answer["summary"]["shadow"]
    assert shadow["available"] is True
    assert shadow["challenger"]["version"] == "c1"
    assert shadow["compared"] == 7043
    assert 0 < shadow["disagreement_rate"] < 0.2
    assert 0 < shadow["mean_abs_delta"] <= shadow["p99_abs_delta"] <= shadow["max_abs_delta"]
    cuts = {t["cut"]: t for t in shadow["top"]}
    assert (cuts["top 10%"]["k"], cuts["listed"]["k"]) == (705, 100)
    for top in cuts.values():
        assert top["enters"] == top["leaves"]  # same K on both sides
        k, common = top["k"], top["k"] - top["enters"]
        assert top["jaccard"] == pytest.approx(common / (2 * k - common), abs=1e-6)
    found = {e.role: e for e in entries(tmp_path / "lists")}
    assert set(found) == {"champion", "challenger"}
    assert found["challenger"].version == "c1"
    assert found["champion"].version == answer["model_version"] == "1"
    assert found["challenger"].summary["shadow"]["champion"]["version"] == "1"
    # Its "called" list is the one it would have handed out: the same cut as the champion's.
    assert found["challenger"].record["listed"] == found["champion"].record["listed"] == 100
    assert len((found["challenger"].path / "at_risk.csv").read_text().splitlines()) == 1 + 7043
    page = render(answer["summary"])
    assert "Challenger in shadow" in page
    assert f"{cuts['top 10%']['jaccard']:.3f}" in page


@pytest.mark.parametrize("fault", ["absent", "garbage", "exploding"])
def test_a_broken_challenger_never_touches_the_champion(
    client: TestClient, settings: Settings, tmp_path: Path, baseline_result: TrainResult, fault: str
) -> None:
    target = tmp_path / "broken"
    if fault == "garbage":
        publish_bytes(baseline_result, target, b"not a pickle", "c2")
    elif fault == "exploding":
        publish(exploding(baseline_result), target, "c3")
    alone = _answers(client)
    with client_with(settings, challenger_dir=target) as broken:
        assert broken.get("/health/ready").status_code == 200
        assert _answers(broken) == alone
        assert _metric(broken, "churn_model_ready") == 1
        if fault == "exploding":
            assert _metric(broken, "churn_challenger_ready") == 1
            assert _metric(broken, 'churn_shadow_errors_total{reason="scoring_failed"}') >= 3
        else:
            assert _metric(broken, "churn_challenger_ready") == 0
            assert _metric(broken, 'churn_shadow_errors_total{reason="not_loaded"}') >= 3
        weekly = broken.post("/predict/weekly?week=2026-W49", content=DATA.read_bytes(), headers=CSV).json()
        assert weekly["summary"]["shadow"]["available"] is False


def test_the_challenger_is_hot_swapped_like_the_champion(
    shadowed: TestClient, challenger_dir: Path, baseline_result: TrainResult
) -> None:
    publish(retrained(baseline_result, C=0.5), challenger_dir, "c2")
    shadowed.app.state.shadow.refresh()  # type: ignore[attr-defined]
    assert 'churn_challenger_info{mlflow_run_id="",version="c2"} 1.0' in shadowed.get("/metrics").text
    publish_bytes(baseline_result, challenger_dir, b"corrupt", "c3")
    shadowed.app.state.shadow.refresh()  # type: ignore[attr-defined]
    # A refused reload keeps the last good challenger, as the champion's store does; readiness is its own.
    assert 'version="c2"' in shadowed.get("/metrics").text
    assert _metric(shadowed, "churn_challenger_ready") == 0
    assert shadowed.get("/health/ready").status_code == 200


def test_the_command_scores_the_challenger_in_shadow_and_survives_a_corrupt_one(
    tmp_path: Path, trained_model_dir: Path, challenger_dir: Path, baseline_result: TrainResult,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    common = ["--model-dir", str(trained_model_dir), "--profile", str(PROFILE_PATH), "--week", "2026-W49"]
    out = tmp_path / "out"
    assert (
        main(["weekly", str(DATA), "--out", str(out), "--top", "50", "--challenger-dir", str(challenger_dir), *common])
        == 0
    )
    printed = capsys.readouterr().out
    assert "shadow     challenger vc1: disagree" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shadow"]["available"] is True
    assert "Challenger in shadow" in (out / "report.html").read_text()
    changes = list(csv.DictReader(io.StringIO((out / "challenger" / "top_changes.csv").read_text())))
    top = summary["shadow"]["top"][0]
    assert sum(1 for c in changes if c["cut"] == "top 10%" and c["change"] == "enters") == top["enters"]
    assert {e.role for e in entries(tmp_path / "lists")} == {"champion", "challenger"}  # CHURN_LIST_ARCHIVE
    listed = (out / "at_risk.csv").read_bytes()
    publish_bytes(baseline_result, challenger_dir, b"corrupt", "c9")
    again = tmp_path / "again"
    assert (
        main(
            ["weekly", str(DATA), "--out", str(again), "--top", "50", "--challenger-dir", str(challenger_dir), *common]
        )
        == 0
    )
    assert "warning: challenger not scored" in capsys.readouterr().err
    assert (again / "at_risk.csv").read_bytes() == listed
    assert json.loads((again / "summary.json").read_text())["shadow"]["available"] is False

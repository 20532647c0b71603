"""Every weekly list is archived by ISO week with its summary and model, the same from the command and the
route; the cut to `--top`/`--min-probability` is what `run_weekly` writes itself; MLflow when configured."""

from __future__ import annotations

import json
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from experiments.store import Store
from scoring.archive import ArchiveError, entries, iso_week, parse_week
from scoring.cli import main
from scoring.listing import ListJob, make_list
from scoring.runs import Selection
from scoring.tracking import LISTS_EXPERIMENT
from scoring.weekly import Scorer
from service.settings import Settings
from testkit.paths import DATA, PROFILE_PATH
from tests.scoring.kit import weekly
from tests.utils.clients import client_with

WEEK = "2026-W49"


def _job(tmp_path: Path, name: str, **options: Any) -> ListJob:
    return ListJob(DATA, tmp_path / name, tmp_path / "lists", "command", week=WEEK, **options)


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("wall_seconds", "week", "shadow")}


def test_weeks_are_iso_weeks_and_a_week_given_by_hand_must_exist() -> None:
    assert iso_week(date(2026, 12, 2)) == WEEK
    assert iso_week(date(2027, 1, 1)) == "2026-W53"  # ISO years: 1 January 2027 is in 2026's last week
    assert parse_week("2020-W53") == "2020-W53"
    for bad in ("2021-W53", "2026-W00", "2026-49", "2026-W5", "W49"):
        with pytest.raises(ArchiveError):
            parse_week(bad)


@pytest.mark.parametrize("selection", [Selection(top=100), Selection(min_probability=0.5)])
def test_the_cut_list_is_byte_for_byte_what_run_weekly_writes_and_the_archive_keeps_everyone(
    scorer: Scorer, tmp_path: Path, selection: Selection
) -> None:
    direct = weekly(scorer, DATA, tmp_path / "direct", top=selection.top, min_probability=selection.min_probability)
    listed = make_list(_job(tmp_path, "listed", selection=selection), scorer)
    out = tmp_path / "listed"
    assert (out / "at_risk.csv").read_bytes() == (tmp_path / "direct" / "at_risk.csv").read_bytes()
    assert _comparable(listed.outcome.summary) == _comparable(direct.summary)
    assert _comparable(json.loads((out / "summary.json").read_text())) == _comparable(direct.summary)
    [archived] = listed.archived
    assert archived.path == tmp_path / "lists" / WEEK / "champion"
    full = (archived.path / "at_risk.csv").read_text().splitlines()
    assert len(full) == 1 + 7043  # every scored customer: the outcomes are measured on all of them
    assert full[: direct.summary["rows"]["listed"] + 1] == (out / "at_risk.csv").read_text().splitlines()
    record = json.loads((archived.path / "archive.json").read_text())
    manifest = scorer.model.manifest
    assert record["model"]["version"] == manifest.version
    assert record["model"]["model_sha256"] == manifest.model_sha256
    assert record["model"]["held_out"] == manifest.metrics
    assert record["listed"] == direct.summary["rows"]["listed"]
    assert json.loads((archived.path / "summary.json").read_text())["rows"]["listed"] == record["listed"]


def test_a_list_made_again_in_the_same_week_replaces_the_earlier_one(scorer: Scorer, tmp_path: Path) -> None:
    first = make_list(_job(tmp_path, "a", selection=Selection(top=10)), scorer).archived[0]
    again = make_list(_job(tmp_path, "b", selection=Selection(top=20)), scorer).archived[0]
    other = make_list(ListJob(DATA, tmp_path / "c", tmp_path / "lists", "command", week="2026-W50"), scorer)
    assert (first.replaced, again.replaced, other.archived[0].replaced) == (False, True, False)
    found = entries(tmp_path / "lists")
    assert [(e.week, e.role, e.record["listed"]) for e in found] == [
        (WEEK, "champion", 20),
        ("2026-W50", "champion", 7043),
    ]
    assert not [p for p in (tmp_path / "lists" / WEEK).iterdir() if p.name.startswith(".")]  # no staging left


def test_the_command_archives_under_the_week_given_or_this_week(
    tmp_path: Path, trained_model_dir: Path, private_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--model-dir", str(trained_model_dir), "--profile", str(PROFILE_PATH), "--no-report"]
    assert main(["weekly", str(DATA), "--out", str(tmp_path / "out"), "--top", "50", "--week", WEEK, *common]) == 0
    assert (
        f"archived   champion v1 -> {private_archive}/{WEEK}/champion/  (not logged to MLflow)"
        in capsys.readouterr().out
    )
    assert main(["weekly", str(DATA), "--out", str(tmp_path / "now"), *common]) == 0
    assert {e.week for e in entries(private_archive)} == {WEEK, iso_week(datetime.now(UTC).date())}
    with pytest.raises(SystemExit) as refused:
        main(["weekly", str(DATA), "--out", str(tmp_path / "x"), "--week", "2021-W53", *common])
    assert refused.value.code == 2
    assert "2021-W53 does not exist" in capsys.readouterr().err


def test_each_list_is_an_mlflow_run_with_the_values_of_the_list(scorer: Scorer, tmp_path: Path, store: Store) -> None:
    listed = make_list(_job(tmp_path, "out", selection=Selection(top=100), tracking_uri=store.uri), scorer)
    record = json.loads((listed.archived[0].path / "archive.json").read_text())
    run = store.client.get_run(record["mlflow"]["run_id"])
    experiment = store.client.get_experiment(run.info.experiment_id)
    assert experiment.name == LISTS_EXPERIMENT
    assert run.info.status == "FINISHED"
    assert run.data.params["week"] == WEEK
    assert run.data.params["model_version"] == scorer.model.manifest.version
    assert run.data.params["model_sha256"] == scorer.model.manifest.model_sha256
    summary = listed.outcome.summary
    assert run.data.metrics["rows.scored"] == summary["rows"]["scored"] == 7043
    assert run.data.metrics["rows.listed"] == 100
    assert run.data.tags["churn.model_run_id"] == (scorer.model.manifest.mlflow_run_id or "")
    assert {a.path for a in store.client.list_artifacts(run.info.run_id)} == {
        "archive.json",
        "at_risk.csv",
        "summary.json",
    }


def test_a_tracking_store_that_fails_never_withholds_the_list(scorer: Scorer, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    broken = f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}"
    listed = make_list(_job(tmp_path, "out", tracking_uri=broken), scorer)
    assert listed.outcome.exit_status == 0
    record = json.loads((listed.archived[0].path / "archive.json").read_text())
    assert "error" in record["mlflow"]
    assert len((tmp_path / "out" / "at_risk.csv").read_text().splitlines()) == 7044


def test_the_route_archives_its_list_too(client: TestClient, tmp_path: Path) -> None:
    body = DATA.read_bytes()
    answer = client.post(f"/predict/weekly?top=25&week={WEEK}", content=body, headers={"content-type": "text/csv"})
    assert answer.status_code == 200
    [entry] = entries(tmp_path / "lists")
    assert (entry.week, entry.role, entry.record["source"], entry.record["listed"]) == (WEEK, "champion", "http", 25)
    assert entry.version == answer.json()["model_version"]
    assert answer.json()["summary"]["week"] == WEEK
    bad = client.post("/predict/weekly?week=2021-W53", content=body, headers={"content-type": "text/csv"})
    assert bad.status_code == 422
    assert "2021-W53 does not exist" in bad.json()["errors"][0]["message"]


def test_the_route_logs_its_list_to_the_configured_store(settings: Settings, tmp_path: Path, store: Store) -> None:
    with client_with(settings, list_tracking_uri=store.uri) as client:
        answer = client.post(
            f"/predict/weekly?week={WEEK}", content=DATA.read_bytes(), headers={"content-type": "text/csv"}
        )
    assert answer.status_code == 200
    [entry] = entries(tmp_path / "lists")
    run = store.client.get_run(entry.record["mlflow"]["run_id"])
    assert (run.data.params["source"], run.data.params["week"]) == ("http", WEEK)
    assert run.data.params["model_version"] == answer.json()["model_version"]


def test_a_later_list_into_the_same_directory_never_changes_an_archived_one(scorer: Scorer, tmp_path: Path) -> None:
    """The archive owns its files: the next week's list, written over the same --out, leaves it as it was."""
    out, archive = tmp_path / "out", tmp_path / "lists"
    first = make_list(ListJob(DATA, out, archive, "command", week=WEEK), scorer).archived[0]
    kept = {name: (first.path / name).read_bytes() for name in ("at_risk.csv", "summary.json")}
    few = [line for i, line in enumerate(DATA.read_text().splitlines(keepends=True)) if i < 101]
    (tmp_path / "small.csv").write_text("".join(few))
    make_list(ListJob(tmp_path / "small.csv", out, archive, "command", week="2026-W50"), scorer)
    assert {name: (first.path / name).read_bytes() for name in kept} == kept


def test_a_whole_list_is_the_archived_file_itself_and_read_only(scorer: Scorer, tmp_path: Path) -> None:
    """Nothing cut: at_risk.csv is a hard link to the archived ranking (no 150 MB copy at 1M rows), so it is
    read-only, and a cut list is a file of its own."""
    whole = make_list(_job(tmp_path, "whole"), scorer).archived[0]
    listed, archived = (tmp_path / "whole" / "at_risk.csv").stat(), (whole.path / "at_risk.csv").stat()
    assert (listed.st_ino, listed.st_dev) == (archived.st_ino, archived.st_dev)
    assert stat.S_IMODE(listed.st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    cut = make_list(ListJob(DATA, tmp_path / "cut", tmp_path / "other", "command", week=WEEK,
                            selection=Selection(top=5)), scorer).archived[0]  # fmt: skip
    assert (tmp_path / "cut" / "at_risk.csv").stat().st_ino != (cut.path / "at_risk.csv").stat().st_ino

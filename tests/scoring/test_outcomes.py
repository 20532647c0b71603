"""python -m scoring outcomes: the archived lists against outcomes derived from the data set's own labels.

A well-calibrated list stays quiet; a planted degraded model is flagged; a small shortfall inside the
bootstrap interval stays quiet where a point comparison would have cried wolf; calls that work look like
degradation unless the `contacted` column says who was called."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from experiments.model_dir import serialize_pipeline
from experiments.store import Store
from experiments.train import TrainResult, train
from scoring.cli import main
from scoring.listing import ListJob, make_list
from scoring.runs import Selection
from scoring.weekly import Scorer
from service.model_store import load_model_dir
from service.profile import sha256_file
from testkit.paths import DATA, PROFILE_PATH
from tests.scoring.kit import data_rows, scorer_for, write_csv
from tests.utils.models import publish_bytes
from tests.utils.profile import PROFILE

WEEK, MONDAY, NEXT_WEEK, NEXT_MONDAY = "2026-W49", "2026-11-30", "2026-W50", "2026-12-07"
LABELS = {row["customerID"]: row["Churn"].lower() for row in data_rows()}


def _archive(scorer: Scorer, archive: Path, tmp_path: Path, week: str = WEEK, top: int | None = 500) -> Path:
    job = ListJob(DATA, tmp_path / f"out-{week}", archive, "command", selection=Selection(top=top), week=week)
    return make_list(job, scorer).archived[0].path


def _ranked(entry: Path) -> list[dict[str, str]]:
    with (entry / "at_risk.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _outcomes(path: Path, labels: dict[str, str], as_of: str = MONDAY, contacted: set[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["customer_id", "churned", "as_of", *(["contacted"] if contacted is not None else [])])
        for customer, churned in labels.items():
            extra = [("yes" if customer in contacted else "no")] if contacted is not None else []
            writer.writerow([customer, churned, as_of, *extra])
    return path


def _run(outcomes: Path, archive: Path, *more: str) -> int:
    return main(["outcomes", str(outcomes), "--archive", str(archive), *more])


def _flip_top_churners(entry: Path, count: int, among: int) -> dict[str, str]:
    """The data set's labels with `count` churners among the first `among` ranks turned into stayers."""
    labels = dict(LABELS)
    flipped = 0
    for row in _ranked(entry)[:among]:
        if flipped < count and labels[row["customer_id"]] == "yes":
            labels[row["customer_id"]] = "no"
            flipped += 1
    return labels


@pytest.fixture
def degraded_scorer(tmp_path: Path, baseline_result: TrainResult) -> Scorer:
    """A planted degraded model: trained on shuffled labels, but its manifest claims the baseline's held-out
    metrics (the model that looked good in training and does not find churners in the field)."""
    frame = baseline_result.dataset.frame.copy()
    frame["churn"] = np.random.default_rng(7).permutation(frame["churn"].to_numpy())
    shuffled = train(baseline_result.config, dataset=dataclasses.replace(baseline_result.dataset, frame=frame))
    target = tmp_path / "degraded"
    publish_bytes(baseline_result, target, serialize_pipeline(shuffled), "9")
    return scorer_for(load_model_dir(target, sha256_file(PROFILE_PATH), tuple(PROFILE.features)))


def test_a_well_calibrated_list_stays_quiet_and_every_figure_is_the_real_one(
    scorer: Scorer, tmp_path: Path, private_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = _archive(scorer, private_archive, tmp_path)
    assert _run(_outcomes(tmp_path / "o.csv", LABELS), private_archive) == 0
    assert "within noise" in capsys.readouterr().out
    report = json.loads((entry / "outcomes.json").read_text())
    ranked = _ranked(entry)
    y = np.array([LABELS[r["customer_id"]] == "yes" for r in ranked], dtype=np.int64)
    p = np.array([float(r["probability"]) for r in ranked])
    whole = report["all"]
    assert (report["joined"], report["scored"], report["top10_k"], report["listed"]) == (7043, 7043, 705, 500)
    assert whole["top10"]["precision"] == pytest.approx(y[:705].mean(), abs=1e-12)
    assert whole["top10"]["recall"] == pytest.approx(y[:705].sum() / y.sum(), abs=1e-12)
    assert whole["top10"]["lift"] == pytest.approx(y[:705].mean() / y.mean(), abs=1e-12)
    assert whole["called"]["precision"] == pytest.approx(y[:500].mean(), abs=1e-12)  # the 500 handed out
    assert whole["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert whole["brier"] == pytest.approx(np.mean((p - y) ** 2), abs=1e-12)
    assert 0 < whole["ece"] < 0.05
    assert report["held_out"] == scorer.model.manifest.metrics
    gate = report["gate"]
    assert (gate["basis"], gate["degraded"]) == ("all", False)
    assert gate["low"] <= gate["realised"] <= gate["high"]
    assert (entry / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Seeded: the same outcomes give the same interval.
    _run(_outcomes(tmp_path / "o.csv", LABELS), private_archive)
    assert json.loads((entry / "outcomes.json").read_text())["gate"] == gate


def test_a_planted_degraded_model_is_flagged_per_model_version_and_week(
    scorer: Scorer, degraded_scorer: Scorer, tmp_path: Path, private_archive: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    good = _archive(scorer, private_archive, tmp_path, WEEK)
    bad = _archive(degraded_scorer, private_archive, tmp_path, NEXT_WEEK)
    outcomes = tmp_path / "o.csv"
    first = _outcomes(tmp_path / "a.csv", LABELS, MONDAY).read_text()
    second = _outcomes(tmp_path / "b.csv", LABELS, NEXT_MONDAY).read_text()
    outcomes.write_text(first + second.split("\n", 1)[1])  # one file, two weeks
    capsys.readouterr()
    assert _run(outcomes, private_archive) == 1
    printed = capsys.readouterr().out
    alarms = [line for line in printed.splitlines() if line.startswith("ALARM")]
    assert len(alarms) == 1
    assert alarms[0].startswith(f"ALARM: {NEXT_WEEK} champion v9 realised precision in the top 10%")
    flagged = json.loads((bad / "outcomes.json").read_text())
    quiet = json.loads((good / "outcomes.json").read_text())
    assert (flagged["model_version"], flagged["week"], flagged["gate"]["degraded"]) == ("9", NEXT_WEEK, True)
    assert flagged["gate"]["high"] < flagged["held_out"]["precision_top10"]
    assert (quiet["model_version"], quiet["week"], quiet["gate"]["degraded"]) == ("1", WEEK, False)


def test_the_bootstrap_forgives_noise_a_point_comparison_would_flag(
    scorer: Scorer, tmp_path: Path, private_archive: Path
) -> None:
    entry = _archive(scorer, private_archive, tmp_path)
    held_out = scorer.model.manifest.metrics["precision_top10"]
    slightly = _flip_top_churners(entry, 28, 705)  # realised about 0.73, under the held-out 0.745
    assert _run(_outcomes(tmp_path / "small.csv", slightly), private_archive) == 0
    gate = json.loads((entry / "outcomes.json").read_text())["gate"]
    assert gate["realised"] < held_out  # a point comparison would have flagged this
    assert gate["low"] < held_out <= gate["high"]
    much = _flip_top_churners(entry, 110, 705)  # the sabotage twin: the same list, really worse
    assert _run(_outcomes(tmp_path / "large.csv", much), private_archive) == 1
    assert json.loads((entry / "outcomes.json").read_text())["gate"]["degraded"] is True


def test_calls_that_work_look_like_degradation_unless_the_contacted_column_says_who_was_called(
    scorer: Scorer, tmp_path: Path, private_archive: Path
) -> None:
    entry = _archive(scorer, private_archive, tmp_path)
    called = {r["customer_id"] for r in _ranked(entry)[:500]}
    churners = [c for c in called if LABELS[c] == "yes"]
    saved = set(sorted(churners)[: len(churners) // 2])  # the calls kept half of the churners phoned
    labels = {c: ("no" if c in saved else y) for c, y in LABELS.items()}
    assert _run(_outcomes(tmp_path / "plain.csv", labels), private_archive) == 1  # without: a false alarm
    assert _run(_outcomes(tmp_path / "told.csv", labels, contacted=called), private_archive) == 0
    report = json.loads((entry / "outcomes.json").read_text())
    assert report["gate"]["basis"] == "uncontacted"
    assert report["gate"]["customers"] == 705 - 500
    assert report["contacted"]["customers"] == 500
    assert report["uncontacted"]["customers"] == 7043 - 500
    assert report["all"]["called"]["customers"] == 500
    assert report["contacted"]["base_rate"] < report["uncontacted"]["top10"]["precision"]


def test_unusable_outcomes_are_refused_with_one_line(
    scorer: Scorer, tmp_path: Path, private_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _archive(scorer, private_archive, tmp_path)
    good = _outcomes(tmp_path / "good.csv", dict(list(LABELS.items())[:50])).read_text().splitlines()
    cases = {
        "missing": ["customer_id,churned", "7590-VHVEG,yes"],
        "not yes or no": [*good[:3], "X-1,maybe,2026-11-30"],
        "not a date": [*good[:3], "X-1,no,30/11/2026"],
        "twice": [*good[:3], good[2]],
        "no list that week": [good[0], "7590-VHVEG,yes,2026-01-05"],
    }
    for name, lines in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n")
        capsys.readouterr()
        assert _run(path, private_archive) == 2, name
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1, name
        assert err[0].startswith("error: "), name
    assert _run(tmp_path / "good.csv", tmp_path / "no-archive") == 2


def test_outcomes_are_logged_to_mlflow_beside_the_list(scorer: Scorer, tmp_path: Path, store: Store) -> None:
    archive = tmp_path / "logged"
    job = ListJob(DATA, tmp_path / "out", archive, "command", selection=Selection(top=500), week=WEEK,
                  tracking_uri=store.uri)  # fmt: skip
    listed = make_list(job, scorer).archived[0]
    list_run = json.loads((listed.path / "archive.json").read_text())["mlflow"]["run_id"]
    assert _run(_outcomes(tmp_path / "o.csv", LABELS), archive, "--tracking-uri", store.uri) == 0
    report = json.loads((listed.path / "outcomes.json").read_text())
    run = store.client.get_run(report["mlflow_run_id"])
    assert run.data.tags["churn.list_run_id"] == list_run
    assert run.data.metrics["realised.all.top10.precision"] == report["all"]["top10"]["precision"]
    assert run.data.metrics["held_out.precision_top10"] == scorer.model.manifest.metrics["precision_top10"]
    assert run.data.metrics["gate.degraded"] == 0.0
    assert {a.path for a in store.client.list_artifacts(run.info.run_id)} == {"outcomes.json", "reliability.png"}


def test_numeric_looking_ids_join_as_the_text_they_are(scorer: Scorer, tmp_path: Path, private_archive: Path) -> None:
    """ "0042" is not 42: ids are read as text on both sides of the join (a guessed integer column joins nothing)."""
    rows = [{**row, "customerID": f"{i:04d}"} for i, row in enumerate(data_rows()[:300])]
    export = write_csv(tmp_path / "numeric.csv", rows)
    make_list(ListJob(export, tmp_path / "out", private_archive, "command", week=WEEK), scorer)
    labels = {row["customerID"]: row["Churn"].lower() for row in rows}
    assert _run(_outcomes(tmp_path / "o.csv", labels), private_archive) == 0
    report = json.loads((private_archive / WEEK / "champion" / "outcomes.json").read_text())
    assert report["joined"] == 300

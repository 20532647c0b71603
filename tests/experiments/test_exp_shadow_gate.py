"""`promote` can require shadow evidence: a run whose config sets `[promotion.shadow]` floors is refused, each
missing piece named, until the list archive shows it scored enough weeks in shadow, close enough to the
champion's top 10%, with realised outcomes graded; `challenger` stages a run without touching the registry."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.config import ShadowFloors, load_config
from experiments.params import config_params
from experiments.promote import CHAMPION, PromotionRefused, promote
from experiments.runs import run_experiment
from experiments.shadow_evidence import missing_evidence
from experiments.store import Store
from scoring.cli import main as scoring_main
from scoring.listing import ListJob, make_list
from service.manifest import read_manifest
from service.model_store import load_model_dir
from service.profile import load_profile
from testkit.paths import DATA, PROFILE_PATH
from tests.scoring.kit import scorer_for

MakeConfig = Callable[..., Path]
FLOORS = (
    "\n[promotion.shadow]\nmin_weeks = 2\nmin_top10_overlap = 0.5\nmin_outcome_weeks = 1\nmax_precision_gap = 0.1\n"
)


def _with_floors(path: Path) -> Path:
    path.write_text(path.read_text(encoding="utf-8") + FLOORS, encoding="utf-8")
    return path


def _outcomes(path: Path, as_of: str) -> Path:
    with DATA.open(encoding="utf-8", newline="") as source, path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["customer_id", "churned", "as_of"])
        writer.writerows([row["customerID"], row["Churn"].lower(), as_of] for row in csv.DictReader(source))
    return path


def test_promotion_waits_for_shadow_evidence_and_names_what_is_missing(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    champion_dir, challenger_dir, archive = tmp_path / "models" / "churn", tmp_path / "challenger", tmp_path / "lists"
    champion = run_experiment(store, make_config())
    promote(store, champion.run_id, champion_dir, PROFILE_PATH, archive=archive)
    variant = run_experiment(store, _with_floors(make_config("logreg_c01")))
    with pytest.raises(PromotionRefused, match=r"0 weekly lists scored this run in shadow \(none\), the floor is 2"):
        promote(store, variant.run_id, champion_dir, PROFILE_PATH, archive=archive)

    assert (
        main(["challenger", variant.run_id, "--challenger-dir", str(challenger_dir), "--profile", str(PROFILE_PATH)])
        == 0
    )
    assert read_manifest(challenger_dir).mlflow_run_id == variant.run_id
    assert store.client.get_model_version_by_alias("churn", CHAMPION).run_id == champion.run_id  # untouched
    profile, sha256 = load_profile(PROFILE_PATH)
    champion_scorer, challenger_scorer = (
        scorer_for(load_model_dir(d, sha256, tuple(profile.features))) for d in (champion_dir, challenger_dir)
    )
    for week in ("2026-W49", "2026-W50"):
        make_list(ListJob(DATA, tmp_path / week, archive, "command", week=week), champion_scorer, challenger_scorer)
    with pytest.raises(PromotionRefused) as refused:
        promote(store, variant.run_id, champion_dir, PROFILE_PATH, archive=archive)
    assert "0 weeks with realised outcomes, the floor is 1" in str(refused.value)
    assert "weekly lists scored this run" not in str(refused.value)  # two weeks: that floor is met

    strict = ShadowFloors(min_weeks=2, min_top10_overlap=0.99)
    [first, second] = missing_evidence(strict, archive, variant.run_id)
    assert first.startswith("shadow evidence: top-10% overlap 0.")
    assert first.endswith("in 2026-W49 is below the floor 0.990")
    assert "2026-W50" in second

    assert scoring_main(["outcomes", str(_outcomes(tmp_path / "o.csv", "2026-12-01")), "--archive", str(archive)]) == 0
    args = ["promote", variant.run_id, "--model-dir", str(champion_dir), "--profile", str(PROFILE_PATH)]
    assert main([*args, "--archive", str(tmp_path / "elsewhere")]) == 1  # the evidence is in the archive it names
    assert main([*args, "--archive", str(archive)]) == 0
    assert store.client.get_model_version_by_alias("churn", CHAMPION).run_id == variant.run_id


def test_the_floors_never_change_the_logged_params_of_a_config_without_them(make_config: MakeConfig) -> None:
    plain = load_config(make_config("logreg_c01"))
    floored = load_config(_with_floors(make_config("logreg_c01")))
    assert not any(key.startswith("promotion.shadow") for key in config_params(plain))
    assert config_params(floored)["promotion.shadow.min_weeks"] == "2"

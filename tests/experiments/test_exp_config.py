"""The config: typed, strict, the only source of randomness, and flattened the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from experiments.config import ExperimentConfig, load_config, parse_config
from experiments.params import config_params, flatten, param_value, settings_diff
from experiments.pipeline import build_pipeline
from testkit.paths import ROOT

MakeConfig = Callable[..., Path]
CONFIGS = ROOT / "experiments" / "configs"

SHIPPED = sorted(CONFIGS.glob("*.toml"))


def test_the_baseline_and_at_least_two_variants_ship() -> None:
    names = {load_config(path).name for path in SHIPPED}
    assert {"baseline", "logreg-c0.1", "hist-gbm"} <= names
    assert len({load_config(path).experiment for path in SHIPPED}) == 1  # one MLflow experiment to compare in


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_no_fitted_step_of_any_shipped_config_is_left_unseeded(
    make_config: MakeConfig, path: Path, tmp_path: Path
) -> None:
    config = load_config(make_config(path.stem))
    params = build_pipeline(config).get_params(deep=True)
    seeded = {key: value for key, value in params.items() if key.endswith("random_state")}
    assert seeded  # the estimator takes a seed ...
    assert set(seeded.values()) == {config.seed}  # ... and it is the config's, never None


def test_a_config_may_not_seed_the_estimator_itself(make_config: MakeConfig, tmp_path: Path) -> None:
    text = make_config().read_text().replace("max_iter = 1000", "max_iter = 1000\nrandom_state = 1")
    with pytest.raises(ValidationError, match="remove random_state: the estimator takes the config's one `seed`"):
        parse_config(text)


@pytest.mark.parametrize(
    ("factor", "problem"),
    [
        ('["seed"]', "must be a dotted path under one of threshold, preprocessing, estimator"),
        ('["split.test_size"]', "must be a dotted path under one of"),
        ('["estimator."]', "must be a dotted path under one of"),
        ('["estimator", "estimator"]', "factor lists a setting twice"),
    ],
)
def test_a_factor_may_only_name_model_settings(
    make_config: MakeConfig, tmp_path: Path, factor: str, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        load_config(make_config(factor=factor))


def test_yaml_configs_mean_the_same_as_toml(make_config: MakeConfig, tmp_path: Path) -> None:
    toml_config = load_config(make_config())
    yaml_path = tmp_path / "baseline.yaml"
    yaml_path.write_text(yaml.safe_dump(toml_config.model_dump(mode="json")))
    assert load_config(yaml_path) == toml_config
    assert parse_config(yaml_path.read_text(), ".yml") == toml_config


def test_params_flatten_every_setting_with_one_canonical_string() -> None:
    config = load_config(CONFIGS / "baseline.toml")
    params = config_params(config)
    assert params["estimator.params.C"] == "1.0"
    assert params["split.stratify"] == "true"
    assert params["factor"] == "[]"
    assert params["data.path"] == "data/telco_customer_churn.csv"
    # Every setting, except an absent optional section (`promotion.shadow`: runs logged before it audit the same).
    assert set(params) == set(flatten(config.model_dump(mode="json"))) - {"promotion.shadow"}
    values: list[tuple[Any, str]] = [
        ("text", "text"), (None, "null"), (0.1, "0.1"), ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
        (np.int64(3), "np.int64(3)"), (float("nan"), "NaN"),
    ]  # fmt: skip
    for value, expected in values:
        assert param_value(value) == expected


def test_the_settings_diff_ignores_names_and_descriptions_only() -> None:
    baseline = load_config(CONFIGS / "baseline.toml")
    renamed: ExperimentConfig = baseline.model_copy(update={"name": "other", "description": "other"})
    assert settings_diff(baseline, renamed) == {}
    assert settings_diff(baseline, baseline.model_copy(update={"threshold": 0.4})) == {"threshold": ("0.5", "0.4")}

"""What a run logs as MLflow params: the config it used, flattened, plus its estimator's real `get_params()`.

One canonical string per value, shared by logging, the audit and `compare`, so "equal" means the same thing
everywhere and a value typed by hand into a logging call shows up as a difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sklearn.base import BaseEstimator

from experiments.config import ExperimentConfig
from experiments.train import TrainResult

MODEL_PREFIX = "model."
# Settings that name or explain a config but never change the model it trains.
META_SETTINGS = frozenset({"name", "description", "factor"})
GATE_PREFIX = "promotion.shadow."  # evidence a promotion asks for: never a difference between two models


def param_value(value: object) -> str:
    """The canonical string of a value: JSON where possible (1.0, true, null, ["a"]), else its repr."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_params(config: ExperimentConfig) -> dict[str, str]:
    """Every setting of the config object, as `section.key` -> canonical string. An absent optional section
    (`promotion.shadow`) is left out, so runs logged before it existed still audit the same."""
    dumped = config.model_dump(mode="json")
    if dumped["promotion"].get("shadow") is None:
        dumped["promotion"].pop("shadow", None)
    return {key: param_value(value) for key, value in flatten(dumped).items()}


def estimator_params(estimator: BaseEstimator) -> dict[str, str]:
    """The estimator's own view of its hyperparameters, defaults included, as `model.<name>`."""
    params: dict[str, Any] = estimator.get_params(deep=False)
    return {f"{MODEL_PREFIX}{key}": param_value(value) for key, value in params.items()}


def run_params(result: TrainResult) -> dict[str, str]:
    return {**config_params(result.config), **estimator_params(result.pipeline[-1])}


def settings_diff(baseline: ExperimentConfig, variant: ExperimentConfig) -> dict[str, tuple[str | None, str | None]]:
    """Model-relevant settings whose values differ (None where one side lacks the setting)."""
    ours, theirs = config_params(baseline), config_params(variant)
    keys = sorted(k for k in (set(ours) | set(theirs)) - META_SETTINGS if not k.startswith(GATE_PREFIX))
    return {key: (ours.get(key), theirs.get(key)) for key in keys if ours.get(key) != theirs.get(key)}

"""The experiment config: one typed object, loaded from TOML (or YAML), that drives a whole training run."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

# Estimators a config may name. An allow-list, so a config file cannot import arbitrary code.
ESTIMATORS: dict[str, str] = {
    "LogisticRegression": "sklearn.linear_model",
    "RandomForestClassifier": "sklearn.ensemble",
    "GradientBoostingClassifier": "sklearn.ensemble",
    "HistGradientBoostingClassifier": "sklearn.ensemble",
}
# Sections a controlled experiment may vary. Seed, split and data stay fixed, so both arms of a
# comparison are scored on the very same test rows (the paired bootstrap depends on it).
FACTOR_ROOTS = ("threshold", "preprocessing", "estimator")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    path: Path
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SplitConfig(_Strict):
    test_size: float = Field(gt=0.0, lt=1.0)
    stratify: bool = True


class PreprocessingConfig(_Strict):
    # TotalCharges is blank only at tenure 0, where nothing has been billed yet: 0 is the true value.
    impute_strategy: Literal["constant", "median", "mean"] = "constant"
    impute_fill_value: float = 0.0
    scale_numeric: bool = True


class EstimatorConfig(_Strict):
    name: Literal[
        "LogisticRegression", "RandomForestClassifier", "GradientBoostingClassifier", "HistGradientBoostingClassifier"
    ]
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _seed_is_the_only_randomness(cls, params: dict[str, Any]) -> dict[str, Any]:
        if "random_state" in params:
            raise ValueError("remove random_state: the estimator takes the config's one `seed`")
        return params


class ShadowFloors(_Strict):
    """Evidence the run must have gathered as the challenger in shadow (the list archive) before it may serve.
    Never changes the model trained: left out of the logged params when absent, and out of `compare`."""

    min_weeks: int = Field(ge=1, le=520, description="Weekly lists this run scored in shadow.")
    min_top10_overlap: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Lowest top-10% Jaccard overlap with the champion in any such week."
    )
    min_outcome_weeks: int = Field(
        default=0, ge=0, le=520, description="Of those weeks, how many have outcomes graded (`scoring outcomes`)."
    )
    max_precision_gap: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="In every graded week, realised precision in the top 10% at most this far below the champion's "
        "that week (and never flagged below its own held-out figure).",
    )  # fmt: skip


class PromotionConfig(_Strict):
    """Floors a run's held-out metrics must clear before it may serve."""

    min_roc_auc: float = Field(ge=0.0, le=1.0)
    min_recall_top10: float = Field(default=0.0, ge=0.0, le=1.0)
    shadow: ShadowFloors | None = Field(default=None, description="Shadow evidence required; none by default.")


class ExperimentConfig(_Strict):
    experiment: str = Field(min_length=1, max_length=200, description="MLflow experiment the run is logged in.")
    name: str | None = Field(default=None, min_length=1, max_length=100, description="This config; the run name.")
    description: str = Field(default="", max_length=1000)
    factor: tuple[str, ...] = Field(
        default=(),
        description="Settings (dotted paths) this config varies against its baseline; `compare` checks them.",
    )
    seed: int = Field(ge=0, le=2**32 - 1)
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    data: DataConfig
    split: SplitConfig
    preprocessing: PreprocessingConfig = PreprocessingConfig()
    estimator: EstimatorConfig
    promotion: PromotionConfig

    @field_validator("factor")
    @classmethod
    def _factor_names_model_settings(cls, factor: tuple[str, ...]) -> tuple[str, ...]:
        for setting in factor:
            if setting.split(".")[0] not in FACTOR_ROOTS or "" in setting.split("."):
                raise ValueError(f"factor {setting!r} must be a dotted path under one of {', '.join(FACTOR_ROOTS)}")
        if len(set(factor)) != len(factor):
            raise ValueError("factor lists a setting twice")
        return factor


def parse_config(text: str, suffix: str = ".toml") -> ExperimentConfig:
    """A config from its file's text; `suffix` picks the format (.toml, .yaml or .yml)."""
    data: Any = yaml.safe_load(text) if suffix in (".yaml", ".yml") else tomllib.loads(text)
    return ExperimentConfig.model_validate(data)


def load_config(path: Path) -> ExperimentConfig:
    return parse_config(path.read_text(encoding="utf-8"), path.suffix)

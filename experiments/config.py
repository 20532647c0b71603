"""The experiment config: one typed object, loaded from TOML, that drives a whole training run."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Estimators a config may name. An allow-list, so a config file cannot import arbitrary code.
ESTIMATORS: dict[str, str] = {
    "LogisticRegression": "sklearn.linear_model",
    "RandomForestClassifier": "sklearn.ensemble",
    "GradientBoostingClassifier": "sklearn.ensemble",
    "HistGradientBoostingClassifier": "sklearn.ensemble",
}


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


class PromotionConfig(_Strict):
    """Floors a run's held-out metrics must clear before it may serve."""

    min_roc_auc: float = Field(ge=0.0, le=1.0)
    min_recall_top10: float = Field(default=0.0, ge=0.0, le=1.0)


class ExperimentConfig(_Strict):
    experiment: str = Field(min_length=1)
    seed: int = Field(ge=0, le=2**32 - 1)
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    data: DataConfig
    split: SplitConfig
    preprocessing: PreprocessingConfig = PreprocessingConfig()
    estimator: EstimatorConfig
    promotion: PromotionConfig


def load_config(path: Path) -> ExperimentConfig:
    with path.open("rb") as handle:
        return ExperimentConfig.model_validate(tomllib.load(handle))

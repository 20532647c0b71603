"""The scikit-learn pipeline a config describes. This pipeline is the reference; serving's fast path must match it."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from experiments.config import ESTIMATORS, ExperimentConfig
from experiments.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES


def build_estimator(config: ExperimentConfig) -> ClassifierMixin:
    module = importlib.import_module(ESTIMATORS[config.estimator.name])
    cls = getattr(module, config.estimator.name)
    params: dict[str, Any] = dict(config.estimator.params)
    # The one seed reaches the estimator too: random_state=None would make reruns differ.
    if "random_state" in inspect.signature(cls).parameters:
        params["random_state"] = config.seed
    estimator: ClassifierMixin = cls(**params)
    return estimator


def build_pipeline(config: ExperimentConfig) -> Pipeline:
    pre = config.preprocessing
    numeric_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy=pre.impute_strategy, fill_value=pre.impute_fill_value)),
    ]
    if pre.scale_numeric:
        numeric_steps.append(("scale", StandardScaler()))
    preprocess = ColumnTransformer(
        [
            ("num", Pipeline(numeric_steps), list(NUMERIC_FEATURES)),
            ("cat", OneHotEncoder(handle_unknown="error", sparse_output=False), list(CATEGORICAL_FEATURES)),
        ],
        remainder="drop",
        verbose_feature_names_out=True,
    )
    return Pipeline([("preprocess", preprocess), ("model", build_estimator(config))])

"""The fast path equals the reference pipeline on every training row, or refuses the pipeline."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

from experiments.config import EstimatorConfig, PreprocessingConfig
from experiments.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, Dataset
from experiments.train import TrainResult, train
from service.encoding import FastEncoder, UnsupportedPipeline


def _rows(dataset: Dataset) -> list[dict[str, Any]]:
    """Every training row as the API would hand it over: NaN becomes None."""
    return [
        {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in dataset.X.to_dict(orient="records")
    ]


def _assert_fast_path_matches(result: TrainResult) -> None:
    reference = result.pipeline.predict_proba(result.dataset.X)[:, 1]
    fast = FastEncoder.from_pipeline(result.pipeline).predict_proba(_rows(result.dataset))
    assert len(fast) == 7043
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)


def test_logistic_regression_fast_path_matches_the_pipeline_on_all_rows(baseline_result: TrainResult) -> None:
    _assert_fast_path_matches(baseline_result)


@pytest.mark.parametrize(
    ("estimator", "preprocessing"),
    [
        (EstimatorConfig(name="RandomForestClassifier", params={"n_estimators": 5, "max_depth": 4}), None),
        (
            EstimatorConfig(name="RandomForestClassifier", params={"n_estimators": 5, "max_depth": 4}),
            PreprocessingConfig(impute_strategy="median", scale_numeric=False),
        ),
        (
            EstimatorConfig(name="LogisticRegression", params={"max_iter": 1000}),
            PreprocessingConfig(impute_strategy="mean"),
        ),
    ],
)
def test_other_estimators_and_preprocessing_match_too(
    baseline_result: TrainResult, estimator: EstimatorConfig, preprocessing: PreprocessingConfig | None
) -> None:
    update: dict[str, Any] = {"estimator": estimator}
    if preprocessing is not None:
        update["preprocessing"] = preprocessing
    _assert_fast_path_matches(train(baseline_result.config.model_copy(update=update), baseline_result.dataset))


def _fitted(preprocess: ColumnTransformer, result: TrainResult) -> Pipeline:
    pipeline = Pipeline([("preprocess", preprocess), ("model", LogisticRegression(max_iter=1000))])
    return pipeline.fit(result.split.X_train.fillna(0.0), result.split.y_train)


def test_an_unsupported_numeric_step_is_refused(baseline_result: TrainResult) -> None:
    preprocess = ColumnTransformer(
        [("num", MinMaxScaler(), list(NUMERIC_FEATURES)), ("cat", OneHotEncoder(), list(CATEGORICAL_FEATURES))]
    )
    with pytest.raises(UnsupportedPipeline, match="MinMaxScaler"):
        FastEncoder.from_pipeline(_fitted(preprocess, baseline_result))


def test_a_one_hot_encoder_that_drops_a_category_is_refused(baseline_result: TrainResult) -> None:
    preprocess = ColumnTransformer([("cat", OneHotEncoder(drop="first"), list(CATEGORICAL_FEATURES))])
    with pytest.raises(UnsupportedPipeline, match="drop"):
        FastEncoder.from_pipeline(_fitted(preprocess, baseline_result))


def test_a_pipeline_of_another_shape_is_refused(baseline_result: TrainResult) -> None:
    with pytest.raises(UnsupportedPipeline, match="ColumnTransformer"):
        FastEncoder.from_pipeline(Pipeline([("model", baseline_result.pipeline.steps[1][1])]))


def test_a_classifier_with_other_labels_is_refused(baseline_result: TrainResult) -> None:
    split = baseline_result.split
    relabelled = Pipeline(
        [("preprocess", baseline_result.pipeline.steps[0][1]), ("model", LogisticRegression(max_iter=1000))]
    )
    relabelled.fit(split.X_train, np.where(split.y_train == 1, "churn", "stay"))
    with pytest.raises(UnsupportedPipeline, match=r"classes \[0, 1\]"):
        FastEncoder.from_pipeline(relabelled)

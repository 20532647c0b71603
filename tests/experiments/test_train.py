"""Training: driven by the config, seeded everywhere, so the same config gives the same model."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.config import EstimatorConfig, ExperimentConfig
from experiments.metrics import compute_metrics, top_fraction_mask
from experiments.model_dir import serialize_pipeline
from experiments.pipeline import build_estimator
from experiments.train import TrainResult, train


def _with(config: ExperimentConfig, **changes: object) -> ExperimentConfig:
    return config.model_copy(update=changes)


def test_same_config_twice_gives_identical_model_bytes_and_metrics(baseline_result: TrainResult) -> None:
    again = train(baseline_result.config, baseline_result.dataset)
    assert again.metrics == baseline_result.metrics
    assert np.array_equal(again.test_probabilities, baseline_result.test_probabilities)
    assert serialize_pipeline(again) == serialize_pipeline(baseline_result)


def test_another_seed_gives_another_split_and_other_metrics(baseline_result: TrainResult) -> None:
    other = train(_with(baseline_result.config, seed=baseline_result.config.seed + 1), baseline_result.dataset)
    assert not other.split.X_test.index.equals(baseline_result.split.X_test.index)
    assert other.metrics != baseline_result.metrics


def test_the_split_is_stratified_and_sized_by_the_config(baseline_result: TrainResult) -> None:
    split = baseline_result.split
    assert len(split.X_test) == round(0.2 * 7043)
    assert abs(split.y_test.mean() - split.y_train.mean()) < 0.005


def test_baseline_metrics_are_those_of_a_useful_model(baseline_result: TrainResult) -> None:
    metrics = baseline_result.metrics
    assert set(metrics) == {
        "roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "log_loss",
        "precision_top10", "recall_top10",
    }  # fmt: skip
    assert metrics["roc_auc"] > 0.8
    assert metrics["precision_top10"] > baseline_result.split.y_test.mean()  # the top of the list is enriched


@pytest.mark.parametrize(
    "name", ["RandomForestClassifier", "GradientBoostingClassifier", "HistGradientBoostingClassifier"]
)
def test_the_seed_reaches_the_estimator(baseline_result: TrainResult, name: str) -> None:
    config = _with(baseline_result.config, estimator=EstimatorConfig(name=name))
    assert build_estimator(config).get_params()["random_state"] == config.seed


def test_logistic_regression_gets_the_seed_and_the_config_params(baseline_result: TrainResult) -> None:
    params = build_estimator(baseline_result.config).get_params()
    assert params["random_state"] == baseline_result.config.seed
    assert params["C"] == baseline_result.config.estimator.params["C"]


def test_top_ten_percent_metrics_count_the_highest_risks() -> None:
    probabilities = np.linspace(0.0, 1.0, 20)
    y_true = np.zeros(20, dtype=np.int64)
    y_true[[19, 5]] = 1  # one churner at the very top, one deep in the list
    mask = top_fraction_mask(probabilities)
    assert mask.sum() == 2
    assert mask[18]
    assert mask[19]
    metrics = compute_metrics(y_true, probabilities, threshold=0.5)
    assert metrics["precision_top10"] == 0.5
    assert metrics["recall_top10"] == 0.5

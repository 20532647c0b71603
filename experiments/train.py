"""Config-driven training: split, fit, score. Every random operation takes the config's one seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from experiments.config import ExperimentConfig
from experiments.data import Dataset, load_dataset
from experiments.metrics import compute_metrics
from experiments.pipeline import build_pipeline


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: NDArray[np.int64]
    y_test: NDArray[np.int64]


@dataclass(frozen=True)
class TrainResult:
    config: ExperimentConfig
    dataset: Dataset
    split: Split
    pipeline: Pipeline
    test_probabilities: NDArray[np.float64]
    metrics: dict[str, float]


def split_dataset(dataset: Dataset, config: ExperimentConfig) -> Split:
    y = dataset.y.to_numpy(dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X,
        y,
        test_size=config.split.test_size,
        stratify=y if config.split.stratify else None,
        random_state=config.seed,
    )
    return Split(X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)


def predict_proba(pipeline: Pipeline, X: pd.DataFrame) -> NDArray[np.float64]:
    # One BLAS/OpenMP thread: multi-threaded reductions can change the last bits between runs.
    with threadpool_limits(limits=1):
        return np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)


def train(config: ExperimentConfig, dataset: Dataset | None = None) -> TrainResult:
    dataset = dataset or load_dataset(config.data.path, config.data.sha256)
    split = split_dataset(dataset, config)
    pipeline = build_pipeline(config)
    with threadpool_limits(limits=1):
        pipeline.fit(split.X_train, split.y_train)
    probabilities = predict_proba(pipeline, split.X_test)
    metrics = compute_metrics(split.y_test, probabilities, config.threshold)
    return TrainResult(config, dataset, split, pipeline, probabilities, metrics)

"""Experiment tests: training, MLflow tracking, audit, compare, reproduce, promote. Each test gets a private
MLflow store (`store`) and shipped configs to adjust (`make_config`)."""

from tests.utils.mlflow_stores import _empty_store, make_config, store

__all__ = ["_empty_store", "make_config", "store"]

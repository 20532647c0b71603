"""Experiment tests: training, MLflow tracking, audit, compare, reproduce, promote. Each test gets a private
MLflow store (`store`) and shipped configs to adjust (`make_config`)."""

from tests.utils.mlflow_stores import make_config, store

__all__ = ["make_config", "store"]

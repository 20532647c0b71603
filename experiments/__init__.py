"""Training side of churnguard: data loading, profiling, config-driven training, tracking and promotion."""

import os

# MLflow 3 sends usage telemetry to mlflow-telemetry.io unless told not to. Experiments talk only to the
# tracking store they are given, so this is switched off before any module here can import mlflow.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

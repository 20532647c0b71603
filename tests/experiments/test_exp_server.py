"""The runs are visible to the team: a real `mlflow server` on the same store finds them over its REST API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from experiments.audit import audit_run
from experiments.compare import compare
from experiments.store import Store
from testkit.client import fetch
from testkit.mlflow_server import running_mlflow_server

MakeConfig = Callable[..., Path]


@pytest.mark.slow
def test_a_real_mlflow_server_finds_the_runs_through_its_rest_api(
    make_config: MakeConfig, store: Store, tmp_path: Path
) -> None:
    comparison = compare(store, make_config(), make_config("logreg_c01"), resamples=100)
    experiment_id = store.experiment_id("churn")
    with running_mlflow_server(store.uri, tmp_path) as server:
        found = fetch(server.port, "POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]}).json()
        runs = {run["info"]["run_id"]: run for run in found["runs"]}
        assert set(runs) == {comparison.parent_run_id, comparison.baseline.run_id, comparison.variant.run_id}
        variant = runs[comparison.variant.run_id]
        params = {param["key"]: param["value"] for param in variant["data"]["params"]}
        tags = {tag["key"]: tag["value"] for tag in variant["data"]["tags"]}
        assert params["estimator.params.C"] == "0.1"
        assert tags["mlflow.parentRunId"] == comparison.parent_run_id
        assert tags["audit"] == "passed"

        # The audit works against a tracking server just as against the local file.
        assert audit_run(Store(server.url), comparison.variant.run_id).passed

"""The audit: read a run back from MLflow and prove that what it logged is what it did.

Params must equal the logged config (both ways), the estimator must carry the config's settings, every
metric must equal the logged model re-scored on the split rebuilt from the logged config, and the data
hash must be the file's. Each mismatch is named; nothing stops at the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlflow.entities import Run

from experiments.config import ExperimentConfig, parse_config
from experiments.data import DataIntegrityError, Dataset, load_dataset, sha256_bytes
from experiments.logged_model import LoggedModelError, find_logged_model, load_logged_model
from experiments.metrics import compute_metrics
from experiments.params import MODEL_PREFIX, config_params, estimator_params, param_value
from experiments.store import Store
from experiments.tracking import CONFIG_STEM
from experiments.train import TrainResult, predict_proba, split_dataset

CONFIG_SUFFIXES = (".toml", ".yaml", ".yml")


@dataclass(frozen=True)
class AuditReport:
    run_id: str
    mismatches: tuple[str, ...]
    # The run rebuilt from what it logged: its config, its data, the logged model scored on the rebuilt split.
    result: TrainResult | None = None
    model_uri: str | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.result is not None

    def verdict(self) -> str:
        if self.passed:
            return f"audit of run {self.run_id}: PASSED (params = config, metrics = recomputed, data hash = file)"
        lines = [f"audit of run {self.run_id}: FAILED, {len(self.mismatches)} mismatch(es)"]
        return "\n".join([*lines, *(f"  - {item}" for item in self.mismatches)])


def read_logged_config(store: Store, run_id: str) -> tuple[str, str]:
    """The config file the run logged, and its suffix."""
    names = [item.path for item in store.client.list_artifacts(run_id)]
    logged = [name for name in names if name in {f"{CONFIG_STEM}{suffix}" for suffix in CONFIG_SUFFIXES}]
    if len(logged) != 1:
        raise LookupError(f"run {run_id} logged {len(logged)} config files, not 1 (artifacts: {sorted(names)})")
    return store.read_artifact_text(run_id, logged[0]), "." + logged[0].rsplit(".", 1)[1]


def _compare(what: str, logged: Mapping[str, str], expected: Mapping[str, str], source: str) -> list[str]:
    found = []
    for key in sorted(set(logged) | set(expected)):
        if key not in expected:
            found.append(f"{what} {key} = {logged[key]!r} was logged, but {source} has no such setting")
        elif key not in logged:
            found.append(f"{source} has {key} = {expected[key]!r}, but it was not logged as a {what}")
        elif logged[key] != expected[key]:
            found.append(f"{what} {key} was logged as {logged[key]!r}, {source} says {expected[key]!r}")
    return found


def _config_reached_estimator(config: ExperimentConfig, model_params: Mapping[str, str]) -> list[str]:
    """The estimator really got the config's hyperparameters and seed (not a default, not a literal)."""
    wanted = {f"{MODEL_PREFIX}{key}": param_value(value) for key, value in config.estimator.params.items()}
    if f"{MODEL_PREFIX}random_state" in model_params:
        wanted[f"{MODEL_PREFIX}random_state"] = param_value(config.seed)
    return [
        f"the logged model has {key} = {model_params.get(key)!r}, the config asks for {value!r}"
        for key, value in wanted.items()
        if model_params.get(key) != value
    ]


def _metrics(store: Store, run: Run, recomputed: Mapping[str, float]) -> list[str]:
    found = []
    logged = run.data.metrics
    for key in sorted(set(logged) | set(recomputed)):
        if key not in recomputed:
            found.append(f"metric {key} = {logged[key]!r} was logged, but the audit computes no such metric")
        elif key not in logged:
            found.append(f"metric {key} was not logged (recomputed {recomputed[key]!r})")
        else:
            if logged[key] != recomputed[key]:
                found.append(f"metric {key} was logged as {logged[key]!r}, recomputed {recomputed[key]!r}")
            history = store.client.get_metric_history(run.info.run_id, key)
            if len(history) != 1:
                values = ", ".join(repr(point.value) for point in history)
                found.append(f"metric {key} was logged {len(history)} times ({values}); a run logs it once")
    return found


def audit_run(store: Store, run_id: str) -> AuditReport:
    run = store.client.get_run(run_id)
    try:
        text, suffix = read_logged_config(store, run_id)
    except LookupError as exc:
        return AuditReport(run_id, (str(exc),))
    found: list[str] = []
    recorded = run.data.tags.get("config.sha256")
    if recorded != sha256_bytes(text.encode("utf-8")):
        found.append(
            f"the logged config{suffix} has SHA-256 {sha256_bytes(text.encode('utf-8'))}, the run recorded "
            f"{recorded}: it was edited after the run"
        )
    try:
        config = parse_config(text, suffix)
    except ValueError as exc:
        return AuditReport(run_id, (*found, f"the logged config is not a valid config: {exc}"))

    logged = run.data.params
    found += _compare("param", {k: v for k, v in logged.items() if not k.startswith(MODEL_PREFIX)},
                      config_params(config), "the logged config")  # fmt: skip

    try:
        dataset: Dataset = load_dataset(config.data.path, config.data.sha256)
    except (OSError, DataIntegrityError) as exc:
        return AuditReport(run_id, (*found, f"data: {exc}"))
    if run.data.tags.get("data.sha256") != dataset.sha256:
        found.append(f"tag data.sha256 is {run.data.tags.get('data.sha256')}, {config.data.path} has {dataset.sha256}")

    try:
        model_uri = find_logged_model(store.client, run).model_uri
        pipeline = load_logged_model(store, model_uri)
    except LoggedModelError as exc:
        return AuditReport(run_id, (*found, str(exc)))
    actual = estimator_params(pipeline[-1])
    found += _compare("param", {k: v for k, v in logged.items() if k.startswith(MODEL_PREFIX)}, actual,
                      "the logged model")  # fmt: skip
    found += _config_reached_estimator(config, actual)

    split = split_dataset(dataset, config)
    probabilities = predict_proba(pipeline, split.X_test)
    metrics = compute_metrics(split.y_test, probabilities, config.threshold)
    found += _metrics(store, run, metrics)
    result = TrainResult(config, dataset, split, pipeline, probabilities, metrics)
    return AuditReport(run_id, tuple(found), result, model_uri)

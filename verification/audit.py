"""Target 4, the MLflow audit: a real experiment run into a temporary SQLite store passes its audit; then the two
faults the audit exists for are planted in that store, and it must name each by field: a metric overwritten
after the run, and a run whose param was logged from a literal instead of the config.

The planted faults are part of the check, not only of its tests: an audit that passed everything would pass
the honest run too, so the honest pass proves something only beside the two caught faults.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import experiments.tracking
from experiments.audit import audit_run
from experiments.config import load_config
from experiments.params import MODEL_PREFIX, config_params
from experiments.runs import RunOutcome, run_experiment
from experiments.store import Store
from experiments.train import TrainResult
from testkit.paths import BASELINE_CONFIG, ROOT
from testkit.stores import empty_store
from verification.configs import config_copy
from verification.result import CheckResult, verdict

TARGET = "audit"
CHECK = "real run into a temp SQLite store -> audit passes; overwritten metric, literal param -> named by field"
PLANTED_METRIC = "roc_auc"  # overwritten on the honest run with MlflowClient.log_metric, same key
PLANTED_VALUE = 0.99  # a too-good number typed in; never what the baseline scores
PLANTED_PARAM = "estimator.params.C"  # logged from a literal in a second run
LITERALS = ("0.1", "10.0")  # the first that differs from the config's value (an equal literal is undetectable)


@contextmanager
def _param_from_literal(key: str, literal: str) -> Iterator[None]:
    """The logging code logs `key` as a literal: planted where such a fault lives, for one run, then undone.

    Patching a module inside a check is safe here: the harness runs in-process targets one at a time, and
    `patch.object` puts the function back even if the run raises. It wraps whatever `run_params` is current,
    so a fault planted by a test stays in place too.
    """
    # The name `log_run` calls; imported there, not re-exported, hence the ignore.
    honest = experiments.tracking.run_params  # type: ignore[attr-defined]

    def sloppy(result: TrainResult) -> dict[str, str]:
        return {**honest(result), key: literal}

    with mock.patch.object(experiments.tracking, "run_params", sloppy):
        yield


def _caught(what: str, mismatches: Sequence[str], named: str) -> list[str]:
    if any(mismatch.startswith(named) for mismatch in mismatches):
        return []
    said = "; ".join(mismatches) or "PASSED"
    return [f"the audit did not catch {what}: no mismatch starting {named!r}; it said: {said}"]


def _overwritten_metric(store: Store, honest: RunOutcome, evidence: dict[str, Any]) -> list[str]:
    logged = store.client.get_run(honest.run_id).data.metrics.get(PLANTED_METRIC)
    value = PLANTED_VALUE if logged != PLANTED_VALUE else PLANTED_VALUE - 0.01
    store.client.log_metric(honest.run_id, PLANTED_METRIC, value)
    mismatches = audit_run(store, honest.run_id).mismatches
    evidence["planted_metric"] = {"metric": PLANTED_METRIC, "value": value, "audit": list(mismatches)}
    what = f"metric {PLANTED_METRIC} overwritten with {value!r} after the run"
    return _caught(what, mismatches, f"metric {PLANTED_METRIC} was logged as {value!r}")


def _literal_param(store: Store, config_file: Path, evidence: dict[str, Any]) -> list[str]:
    configured = config_params(load_config(config_file)).get(PLANTED_PARAM)
    literal = next(value for value in LITERALS if value != configured)
    with _param_from_literal(PLANTED_PARAM, literal):
        mismatches = run_experiment(store, config_file).audit.mismatches
    evidence["planted_param"] = {"param": PLANTED_PARAM, "literal": literal, "audit": list(mismatches)}
    # Either wording names the field: "param K was logged as ..." or "param K = ... was logged, but ...".
    return _caught(f"param {PLANTED_PARAM} logged as the literal {literal!r}", mismatches, f"param {PLANTED_PARAM} ")


def check_audit(config: Path = BASELINE_CONFIG) -> CheckResult:
    started = time.perf_counter()
    failures: list[str] = []
    evidence: dict[str, Any] = {"config": str(config)}
    with tempfile.TemporaryDirectory(prefix="churnguard-audit-") as tmp:
        # A fresh store of its own (artifacts beside it): nothing reaches the developer's mlflow.db.
        store = Store.at(empty_store(Path(tmp) / "mlflow.db"))
        config_file = config_copy(config, Path(tmp), data_root=ROOT)  # its data found from any directory
        honest = run_experiment(store, config_file)
        logged = store.client.get_run(honest.run_id).data
        model_params = sum(1 for key in logged.params if key.startswith(MODEL_PREFIX))
        evidence |= {
            "params_audited": len(logged.params),
            "config_params_audited": len(logged.params) - model_params,
            "model_params_audited": model_params,
            "metrics_audited": len(logged.metrics),
            "honest_audit": list(honest.audit.mismatches) or "passed",
        }
        failures += [f"the honest {config.stem} run failed its audit: {item}" for item in honest.audit.mismatches]
        failures += _overwritten_metric(store, honest, evidence)
        failures += _literal_param(store, config_file, evidence)
    summary = (
        f"{config.stem}: {evidence['params_audited']} params ({evidence['model_params_audited']} model.*) and "
        f"{evidence['metrics_audited']} metrics audited, {'passed' if honest.audit.passed else 'FAILED'}; "
        f"planted: {PLANTED_METRIC} overwritten, {PLANTED_PARAM} from a literal"
    )
    return verdict(TARGET, CHECK, summary=summary, evidence=evidence, failures=failures, started=started)

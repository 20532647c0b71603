"""Drift while serving: the window of recent validated inputs behind churn_feature_drift_psi.

A planted shift (every contract month-to-month, tenure halved, as the weekly test's) lifts exactly those
features' PSI to "act"; the data set's own rows stay under "watch" and give the weekly list's PSI; the window
holds the last N rows, no more, in fixed memory; and a window that never evicts, or bins with the wrong
edges, is caught."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from experiments.data import FEATURES
from experiments.train import TrainResult
from scoring.drift import ACT, WATCH, DriftAccumulator
from service import serving_drift
from service.manifest import MANIFEST_FILE
from service.model_store import LoadedModel, load_model_dir
from service.profile import CategoricalFeature, DataProfile, load_profile
from service.reference import REFERENCE_FILE, numeric_counts
from service.schemas import build_customer_model
from service.serving_drift import PENDING, ServingDrift
from service.settings import Settings
from service.validation import Validator
from testkit.paths import PROFILE_PATH
from tests.utils.clients import client_with

Row = dict[str, Any]
SHIFTED = {"contract", "tenure"}


@pytest.fixture(scope="module")
def rows(baseline_result: TrainResult) -> list[Row]:
    """Every row of the data set as a /predict body, in file order."""
    records = baseline_result.dataset.frame.loc[:, list(FEATURES)].to_dict(orient="records")
    return [{str(k): None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in records]


def shifted(rows: list[Row]) -> list[Row]:
    # ceil: tenure 0 stays 0, so the cross-field rules still hold
    return [{**row, "contract": "Month-to-month", "tenure": math.ceil(row["tenure"] / 2)} for row in rows]


def as_csv(rows: list[Row]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue().encode()


def drift_metrics(client: TestClient) -> tuple[float | None, dict[str, float]]:
    """(churn_feature_drift_window_rows or None when absent, churn_feature_drift_psi by feature)."""
    window, psi = None, {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "churn_feature_drift_window_rows":
                window = sample.value
            elif sample.name == "churn_feature_drift_psi":
                psi[sample.labels["feature"]] = sample.value
    return window, psi


def batch(client: TestClient, rows: list[Row]) -> None:
    answer = client.post("/predict/batch", json={"customers": rows})
    assert answer.status_code == 200, answer.text


def test_a_shifted_stream_lifts_exactly_the_shifted_features(settings: Settings, rows: list[Row]) -> None:
    with client_with(settings, drift_window=2000) as client:
        batch(client, rows[:2000])  # a full window of normal traffic first: the shifted rows must evict it
        assert max(drift_metrics(client)[1].values()) < WATCH
        for start in range(2000, 4000, 1000):
            batch(client, shifted(rows[start : start + 1000]))
        window, psi = drift_metrics(client)
    assert window == 2000
    assert set(psi) == set(FEATURES)
    assert {name for name, value in psi.items() if value >= ACT} == SHIFTED, psi


def test_single_predictions_feed_the_window(settings: Settings, rows: list[Row]) -> None:
    with client_with(settings, drift_window=200) as client:
        for row in shifted(rows[:300]):  # more than PENDING: queued rows are binned on the way
            assert client.post("/predict", json=row).status_code == 200
        window, psi = drift_metrics(client)
    assert PENDING < 300
    assert window == 200
    assert {name for name, value in psi.items() if value >= ACT} == SHIFTED, psi


def test_the_data_sets_rows_stay_quiet_and_give_the_weekly_lists_psi(
    settings: Settings, rows: list[Row], profile: DataProfile
) -> None:
    """Through the CSV batch, a window larger than the stream: the same rows the weekly list would measure."""
    with client_with(settings) as client:
        answer = client.post("/predict/batch", content=as_csv(rows), headers={"content-type": "text/csv"})
        assert answer.status_code == 200, answer.text
        window, psi = drift_metrics(client)
        reference = client.app.state.store.current.reference  # type: ignore[attr-defined]
    assert window == len(rows)
    assert max(psi.values()) < WATCH, psi
    weekly = DriftAccumulator(profile, reference)
    columns = Validator(profile, build_customer_model(profile), len(rows)).to_batch(rows).columns
    weekly.add(columns, columns)
    for name, entry in weekly.result(0)["features"].items():
        assert psi[name] == pytest.approx(entry["psi"], abs=1e-6), name


def test_no_reference_or_no_window_means_no_drift_metric(settings: Settings, model_dir: Path, rows: list[Row]) -> None:
    with client_with(settings, drift_window=0) as client:
        batch(client, rows[:100])
        assert drift_metrics(client) == (None, {})
    (model_dir / REFERENCE_FILE).unlink()  # a model directory promoted before the reference existed
    document = json.loads((model_dir / MANIFEST_FILE).read_text())
    del document["reference_file"], document["reference_sha256"]
    (model_dir / MANIFEST_FILE).write_text(json.dumps(document))
    with client_with(settings) as client:
        assert client.get("/health").status_code == 200
        batch(client, rows[:100])
        assert drift_metrics(client) == (None, {})


# --- the window itself: bounded, and exactly the last N rows --------------------------------------------------


@pytest.fixture(scope="module")
def served(_session_model_dir: Path, profile: DataProfile) -> LoadedModel:
    _, sha256 = load_profile(PROFILE_PATH)
    return load_model_dir(_session_model_dir, sha256, tuple(profile.features))


def window_failures(drift: ServingDrift, model: LoadedModel, rows: list[Row], profile: DataProfile) -> list[str]:
    """Feed `rows` in pieces of every kind (single rows, small and large batches, one longer than the window)
    and after each compare the window's counts with the last N rows counted afresh by the one binning rule."""
    assert model.reference is not None
    validator = Validator(profile, build_customer_model(profile), len(rows))
    failures: list[str] = []
    fed: list[Row] = []
    held = None
    pieces = [1, 1, 7, 150, 1, 40, drift.size + 13, 3, drift.size // 2, 1]
    start = 0
    for size in pieces * 3:
        piece = rows[start : start + size]
        start += size
        if size == 1:
            drift.observe_rows(model.reference, piece)
        else:
            drift.observe_columns(model.reference, validator.to_batch(piece).columns)
        fed += piece
        window = drift.counts(model.reference)
        assert window is not None
        count, counts = window
        last = fed[-drift.size :]
        if count != len(last):
            failures.append(f"after {len(fed)} rows the window holds {count}, not {len(last)}")
        columns = validator.to_batch(last).columns
        for name, spec in profile.features.items():
            if isinstance(spec, CategoricalFeature):
                expected = np.bincount(columns[name], minlength=len(spec.allowed))
            else:
                expected = numeric_counts(columns[name], model.reference.numeric[name].edges)
            if not np.array_equal(counts[name], expected):
                failures.append(f"after {len(fed)} rows, {name}: {counts[name].tolist()} != {expected.tolist()}")
        held = held or drift.held_bytes
        if drift.held_bytes != held:
            failures.append(f"after {len(fed)} rows the window holds {drift.held_bytes} bytes, not {held}")
    return failures


def test_the_window_holds_exactly_the_last_n_rows_in_fixed_memory(
    served: LoadedModel, rows: list[Row], profile: DataProfile
) -> None:
    drift = ServingDrift(profile, 500)
    assert window_failures(drift, served, rows, profile) == []
    assert drift.held_bytes < 500 * len(FEATURES) * 2 + 1024


def planted(monkeypatch: pytest.MonkeyPatch, honest: str, faulty: str) -> type[ServingDrift]:
    """ServingDrift from a copy of its module's source with one line sabotaged."""
    path = Path(serving_drift.__file__)
    source = path.read_text(encoding="utf-8")
    assert source.count(honest) == 1, f"{path.name} no longer has the line to sabotage: {honest!r}"
    module = types.ModuleType("planted_serving_drift")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(source.replace(honest, faulty), str(path), "exec"), module.__dict__)  # noqa: S102
    drift_class: type[ServingDrift] = module.ServingDrift
    return drift_class


SABOTAGES = {
    "never-evicts": ("self._counts -= np.bincount(", "self._counts -= 0 * np.bincount("),
    "wrong-edges": (
        "else numeric_bins(np.asarray(columns[name], dtype=np.float64), edges)",
        "else numeric_bins(np.asarray(columns[name], dtype=np.float64), tuple(e + 1 for e in edges))",
    ),
    "overwrites-the-newest": ("slots = (self._next + np.arange(", "slots = (np.arange("),
}


@pytest.mark.parametrize("sabotage", list(SABOTAGES))
def test_a_broken_window_is_caught(
    monkeypatch: pytest.MonkeyPatch, sabotage: str, served: LoadedModel, rows: list[Row], profile: DataProfile
) -> None:
    broken = planted(monkeypatch, *SABOTAGES[sabotage])(profile, 500)
    assert window_failures(broken, served, rows, profile) != []


def swap_failures(drift: ServingDrift, model: LoadedModel, rows: list[Row], profile: DataProfile) -> list[str]:
    """A promoted model's reference (new edges) must start the window again: old bins mean nothing under it."""
    assert model.reference is not None
    validator = Validator(profile, build_customer_model(profile), len(rows))
    drift.observe_columns(model.reference, validator.to_batch(rows[:300]).columns)
    promoted = model.reference.model_copy(deep=True)  # equal values, another model's reference object
    window = drift.counts(promoted)
    assert window is not None
    failures = [] if window[0] == 0 else [f"the window kept {window[0]} rows binned by the previous reference"]
    drift.observe_rows(promoted, rows[:5])
    if drift.psi(None) is not None or drift.rows != 0:
        failures.append("a model without a reference still reports drift")
    return failures


def test_a_new_models_reference_starts_the_window_again(
    monkeypatch: pytest.MonkeyPatch, served: LoadedModel, rows: list[Row], profile: DataProfile
) -> None:
    assert swap_failures(ServingDrift(profile, 500), served, rows, profile) == []
    keeps = planted(monkeypatch, " or self._bins.reference is not reference:", ":")(profile, 500)
    assert swap_failures(keeps, served, rows, profile) != []

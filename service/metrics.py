"""Prometheus metrics. A registry per app (tests build many apps); model state is read at scrape time,
so `/metrics` can never show a stale readiness."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.model_store import ModelStore, ReasonCode

# /predict is ~1 ms, a full batch ~0.5 s: buckets span both, with resolution around the 250 ms alert.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Every label value comes from a bounded set: a client picks the method and the path, never a series name.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
UNMATCHED = "unmatched"


class _ModelStateCollector(Collector):
    def __init__(self, store: ModelStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        health = self.store.health()
        current = self.store.current
        ready = GaugeMetricFamily("churn_model_ready", "1 when a model is loaded and its file is intact, else 0")
        ready.add_metric([], 1.0 if health.healthy else 0.0)
        yield ready
        reason = GaugeMetricFamily(
            "churn_model_not_ready_reason", "1 for the reason the model is not ready", labels=["reason"]
        )
        for code in ReasonCode:
            if code is not ReasonCode.OK:
                reason.add_metric([code.value], 1.0 if health.code is code else 0.0)
        yield reason
        info = GaugeMetricFamily("churn_model_info", "The serving model", labels=["version", "mlflow_run_id"])
        present = GaugeMetricFamily("churn_model_artifact_present", "1 while the served model.joblib is on disk")
        loaded = GaugeMetricFamily("churn_model_last_load_timestamp_seconds", "When the serving model was loaded")
        if current is not None:
            info.add_metric([current.version, current.manifest.mlflow_run_id or ""], 1.0)
            present.add_metric([], 1.0 if current.model_path.exists() else 0.0)
            loaded.add_metric([], current.loaded_at.timestamp())
        else:
            present.add_metric([], 0.0)
        yield from (info, present, loaded)


class ServiceMetrics:
    def __init__(self, store: ModelStore) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "churn_http_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "churn_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "churn_predictions", "Predictions served", ["model_version", "outcome"], registry=self.registry
        )
        self.validation_failures = Counter(
            "churn_validation_failures", "Invalid input fields, by field", ["field"], registry=self.registry
        )
        self.weekly_rows = Counter(
            "churn_weekly_rows", "Rows of weekly exports, scored or rejected", ["outcome"], registry=self.registry
        )
        self.registry.register(_ModelStateCollector(store))

    def observe_request(self, route: str | None, method: str, status: int, seconds: float) -> None:
        """`route` is the matched route's template (None: no route matched); unknown methods count as `other`."""
        route_label = route or UNMATCHED
        method_label = method if method in METHODS else "other"
        status_label = str(status) if 100 <= status <= 599 else "other"
        self.requests.labels(route_label, method_label, status_label).inc()
        self.latency.labels(route_label, method_label).observe(seconds)

    def count_predictions(self, version: str, predictions: list[int]) -> None:
        churn = sum(predictions)
        if churn:
            self.predictions.labels(version, "churn").inc(churn)
        if len(predictions) - churn:
            self.predictions.labels(version, "stay").inc(len(predictions) - churn)

    def count_weekly(self, rows: dict[str, int]) -> None:
        """One weekly list's rows, by outcome."""
        self.weekly_rows.labels("scored").inc(rows["scored"])
        self.weekly_rows.labels("rejected").inc(rows["rejected"])

"""Prometheus metrics. A registry per app (tests build many apps); model state is read at scrape time,
so `/metrics` can never show a stale readiness.

With several workers (service.workers) the counters and the histogram go to prometheus_client's multiprocess
files and a scrape adds up every worker's, dead ones included, so a count never drops. The model-state gauges
are no prometheus_client Gauge and never go to those files, so no multiprocess_mode applies to them: the worker
that answers the scrape computes them, as it computes /health, after re-reading the model directory (a stat;
a load only when it changed). Every worker reads the same directory, so whichever answers reports the same
readiness and reason, the truth of the disk at that moment; a `min`/`max` over per-worker gauge files would
instead report what each worker last wrote, up to a reload interval old, and keep a dead worker's value until
`mark_process_dead`. `churn_model_last_load_timestamp_seconds` is that worker's own load time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from service.metrics_files import locked
from service.model_store import ModelStore, ReasonCode

# /predict is ~1 ms, a full batch ~0.5 s: buckets span both, with resolution around the 250 ms alert.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Every label value comes from a bounded set: a client picks the method and the path, never a series name.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
UNMATCHED = "unmatched"


class _ModelStateCollector(Collector):
    def __init__(self, store: ModelStore, *, refresh: bool = False) -> None:
        self.store = store
        self.refresh = refresh  # several workers: each re-reads the directory at scrape time (module docstring)

    def collect(self) -> Iterator[Metric]:
        if self.refresh:
            self.store.refresh()
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


class _WorkersCollector(Collector):
    """Every worker's counters and histograms, added up, read while no dead worker's files are being folded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        with locked(self.directory, exclusive=False):
            merged = list(self.files.collect())  # type: ignore[no-untyped-call]  # untyped in prometheus_client
        yield from merged


class ServiceMetrics:
    def __init__(self, store: ModelStore, multiprocess_dir: Path | None = None) -> None:
        """`multiprocess_dir`: this worker shares its counts with the other workers' there (service.workers)."""
        if multiprocess_dir is not None and values.ValueClass is values.MutexValue:
            raise RuntimeError("PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is first imported")
        # Counts are made in this registry; with several workers it is never scraped (its values are this
        # worker's share of the files, which `_WorkersCollector` adds up).
        self.own = CollectorRegistry()
        self.requests = Counter(
            "churn_http_requests", "HTTP requests", ["route", "method", "status"], registry=self.own
        )
        self.latency = Histogram(
            "churn_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.own,
        )
        self.predictions = Counter(
            "churn_predictions", "Predictions served", ["model_version", "outcome"], registry=self.own
        )
        self.validation_failures = Counter(
            "churn_validation_failures", "Invalid input fields, by field", ["field"], registry=self.own
        )
        self.weekly_rows = Counter(
            "churn_weekly_rows", "Rows of weekly exports, scored or rejected", ["outcome"], registry=self.own
        )
        self.registry = self.own if multiprocess_dir is None else CollectorRegistry()
        if multiprocess_dir is not None:
            self.registry.register(_WorkersCollector(multiprocess_dir))
        self.registry.register(_ModelStateCollector(store, refresh=multiprocess_dir is not None))

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

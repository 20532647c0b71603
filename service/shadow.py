"""The challenger in shadow: a second model directory (CHURN_CHALLENGER_DIR), loaded, verified and
hot-swapped by its own `ModelStore`, scoring every request after the champion has answered.

Its answers are never returned and never change the champion's: every failure (not loaded, refused,
raising while scoring) is caught here, counted in `churn_shadow_errors_total{reason}` and logged, and
readiness stays the champion's alone. What is measured, per request row:
- disagreement at the threshold: champion and challenger predictions (each at its own threshold) differ;
- |delta p| as a histogram (bounded, and its buckets give the mean, from _sum/_count, and the p99).
Per weekly list: the top-K Jaccard overlap as a gauge (the list's summary holds who enters and leaves).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.model_store import LoadedModel, ModelStore

log = logging.getLogger("churnguard.shadow")
# |delta p| from "identical" to "opposite": resolution where real challengers differ (0.001-0.1).
DELTA_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
NOT_LOADED, SCORING_FAILED = "not_loaded", "scoring_failed"


class _ChallengerState(Collector):
    """Read at scrape time, as the champion's state is (service.metrics): with several workers, whichever
    answers re-reads the challenger directory first."""

    def __init__(self, store: ModelStore, *, refresh: bool = False) -> None:
        self.store = store
        self.refresh = refresh

    def collect(self) -> Iterator[Metric]:
        if self.refresh:
            try:
                self.store.refresh()
            except Exception:  # a scrape must still report the champion: never let the challenger break it
                log.exception("challenger refresh at scrape time failed")
        health = self.store.health()
        ready = GaugeMetricFamily(
            "churn_challenger_ready",
            "1 when the shadow model is loaded and its file intact; never the service's readiness",
        )
        ready.add_metric([], 1.0 if health.healthy else 0.0)
        yield ready
        info = GaugeMetricFamily("churn_challenger_info", "The shadow model", labels=["version", "mlflow_run_id"])
        current = self.store.current
        if current is not None:
            info.add_metric([current.version, current.manifest.mlflow_run_id or ""], 1.0)
        yield info


class Shadow:
    def __init__(
        self,
        store: ModelStore,
        counts: CollectorRegistry,
        scrape: CollectorRegistry,
        *,
        refresh_on_scrape: bool = False,
    ) -> None:
        """`counts`: where the counters live (ServiceMetrics.own: with several workers, the multiprocess files);
        `scrape`: the registry /metrics reads, where the challenger's state is computed."""
        registry = counts
        self.store = store
        self.rows = Counter("churn_shadow_rows", "Rows scored by the challenger in shadow", registry=registry)
        self.disagreements = Counter(
            "churn_shadow_disagreements", "Shadow rows where champion and challenger predict differently",
            registry=registry,
        )  # fmt: skip
        self.delta = Histogram(
            "churn_shadow_abs_delta", "|challenger - champion| churn probability per row", buckets=DELTA_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.errors = Counter(
            "churn_shadow_errors", "Requests the challenger could not score, by reason", ["reason"], registry=registry
        )
        for reason in (NOT_LOADED, SCORING_FAILED):
            self.errors.labels(reason)
        self.list_overlap = Gauge(
            "churn_shadow_list_jaccard", "Top-K Jaccard overlap of the last weekly list", ["cut"], registry=registry,
            multiprocess_mode="mostrecent",  # several workers: the last list made, whichever made it
        )  # fmt: skip
        scrape.register(_ChallengerState(store, refresh=refresh_on_scrape))

    def refresh(self) -> None:
        try:
            self.store.refresh()
        except Exception:  # the watcher serves the champion too: nothing here may stop it
            log.exception("challenger refresh failed")

    def model(self) -> LoadedModel | None:
        model = self.store.current
        if model is None:
            self.errors.labels(NOT_LOADED).inc()
        return model

    def observe(self, champion: NDArray[np.float64], predictions: Sequence[int], challenger: NDArray[np.float64],
                threshold: float) -> None:  # fmt: skip
        delta = np.abs(challenger - champion)
        self.rows.inc(delta.size)
        disagree = int(np.count_nonzero((challenger >= threshold).astype(np.int64) != np.asarray(predictions)))
        if disagree:
            self.disagreements.inc(disagree)
        for value in delta.tolist():
            self.delta.observe(value)

    def score(
        self, probabilities: Callable[[LoadedModel], NDArray[np.float64]],
        champion: Sequence[float] | NDArray[np.float64], predictions: Sequence[int],
    ) -> None:  # fmt: skip
        """Score the rows the champion answered (`probabilities` of a model, computed as the champion's
        were); never raises."""
        model = self.model()
        if model is None:
            return
        try:
            challenger = np.asarray(probabilities(model), dtype=np.float64)
            self.observe(np.asarray(champion, dtype=np.float64), predictions, challenger, model.manifest.threshold)
        except Exception as exc:  # a broken challenger must never reach the champion's answer
            self.errors.labels(SCORING_FAILED).inc()
            log.warning(
                "challenger scoring failed: %s", type(exc).__name__, extra={"challenger_version": model.version}
            )

    def observe_list(self, shadow: Mapping[str, Any]) -> None:
        if shadow.get("available"):
            for top in shadow["top"]:
                self.list_overlap.labels(top["cut"]).set(top["jaccard"])
        else:
            self.errors.labels(SCORING_FAILED if self.store.current is not None else NOT_LOADED).inc()

"""Drift while serving: PSI of the last N validated inputs against the serving model's reference.

A ring buffer holds each row's bin per feature (N x 19 int16: 380 KB at N = 10,000, whatever the traffic)
beside running counts per bin, so a row entering the window is one increment per feature and the row it
evicts one decrement. Bins are the reference's (`service.reference.numeric_bins`, the weekly list's rule;
a category's bin is its index in the profile's `allowed`). A new serving model brings new edges: the window
starts again empty. No reference (a model directory from before it existed), no window and no metric.

Single /predict rows are queued as they are (the validated dicts: an append, ~1 us) and binned `PENDING` at a
time, vectorised, as batches are: on a full queue, before a batch, and at scrape time.

Several workers (CHURN_WORKERS): each worker keeps its own window of the rows it scored, and a scrape reports
the window of the worker that answers it (computed at scrape time on the scraped registry, like the model
state, never written to the multiprocess files: PSI does not add up). Requests spread over the workers, so
each window is a sample of the same stream and each gives about the same PSI; a drift the alert sees for
30 minutes is in every worker's window.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scoring.drift import psi
from service.model_store import ModelStore
from service.profile import CategoricalFeature, DataProfile
from service.reference import Reference, numeric_bins

PENDING = 256  # single rows queued before they are binned together: ~1 us each instead of ~10 us alone


@dataclass(frozen=True)
class _Bins:
    """The reference as the window needs it: per feature its edges (None: categorical) and expected shares."""

    reference: Reference
    edges: tuple[tuple[float, ...] | None, ...]
    expected: tuple[NDArray[np.float64], ...]
    offsets: NDArray[np.int64]  # feature f's bin b is slot offsets[f] + b of the flat counts

    @classmethod
    def of(cls, profile: DataProfile, reference: Reference) -> _Bins:
        edges: list[tuple[float, ...] | None] = []
        expected: list[NDArray[np.float64]] = []
        for name, spec in profile.features.items():
            if isinstance(spec, CategoricalFeature):
                shares = reference.categorical[name].shares
                edges.append(None)
                expected.append(np.array([shares.get(value, 0.0) for value in spec.allowed]))
            else:
                edges.append(reference.numeric[name].edges)
                expected.append(np.asarray(reference.numeric[name].shares, dtype=np.float64))
        sizes = [len(e) for e in expected]
        return cls(reference, tuple(edges), tuple(expected), np.cumsum([0, *sizes[:-1]], dtype=np.int64))


class ServingDrift:
    def __init__(self, profile: DataProfile, size: int, store: ModelStore | None = None,
                 scrape: CollectorRegistry | None = None) -> None:  # fmt: skip
        """`size`: rows in the window (CHURN_DRIFT_WINDOW), 0 disables it; `scrape`: the registry /metrics reads,
        where the metric is computed against `store`'s serving model."""
        self.profile = profile
        self.size = size
        self.names = tuple(profile.features)
        self._index = {
            name: {value: i for i, value in enumerate(spec.allowed)}
            for name, spec in profile.features.items()
            if isinstance(spec, CategoricalFeature)
        }
        self._lock = threading.Lock()
        self._bins: _Bins | None = None
        self._window = np.zeros((size, len(self.names)), dtype=np.int16)
        self._counts = np.zeros(0, dtype=np.int64)
        self._next = 0  # the slot the next row goes to
        self._rows = 0  # rows in the window (at most size)
        self._pending: list[Mapping[str, Any]] = []
        if store is not None and scrape is not None:
            scrape.register(DriftCollector(self, store))

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def held_bytes(self) -> int:
        """Memory the window holds: fixed at start (plus the counts, a few hundred bytes, and < PENDING queued rows)."""
        return int(self._window.nbytes + self._counts.nbytes)

    def _use(self, reference: Reference | None) -> _Bins | None:
        """Follow the serving model's reference (a new one empties the window); None: nothing to measure against.
        Under the lock."""
        if self.size == 0 or reference is None:
            self._bins = None
            self._rows = self._next = 0
            self._pending.clear()
            return None
        if self._bins is None or self._bins.reference is not reference:
            self._bins = _Bins.of(self.profile, reference)
            self._counts = np.zeros(sum(len(e) for e in self._bins.expected), dtype=np.int64)
            self._rows = self._next = 0
            self._pending.clear()
        return self._bins

    def observe_rows(self, reference: Reference | None, rows: Sequence[Mapping[str, Any]]) -> None:
        """Validated /predict rows, scored by the model whose reference this is."""
        if self.size == 0 or reference is None:
            return
        with self._lock:
            if (bins := self._use(reference)) is None:
                return
            self._pending.extend(rows)
            if len(self._pending) >= PENDING:
                self._flush(bins)

    def observe_columns(self, reference: Reference | None, columns: Mapping[str, NDArray[Any]]) -> None:
        """A validated batch as columns: numbers float64 (NaN for null), categories as index into `allowed`."""
        if self.size == 0 or reference is None:
            return
        with self._lock:
            if (bins := self._use(reference)) is None:
                return
            self._flush(bins)
            self._add(bins, self._binned(bins, columns))

    def _binned(self, bins: _Bins, columns: Mapping[str, NDArray[Any]]) -> NDArray[np.int16]:
        binned = [
            np.asarray(columns[name], dtype=np.int64) if edges is None
            else numeric_bins(np.asarray(columns[name], dtype=np.float64), edges)
            for name, edges in zip(self.names, bins.edges, strict=True)
        ]  # fmt: skip
        return np.stack(binned, axis=1).astype(np.int16)

    def _flush(self, bins: _Bins) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            columns: dict[str, NDArray[Any]] = {}
            for name in self.names:
                index = self._index.get(name)
                columns[name] = (
                    np.array([index[row[name]] for row in rows], dtype=np.int64) if index is not None
                    else np.array([math.nan if row[name] is None else row[name] for row in rows], dtype=np.float64)
                )  # fmt: skip
            self._add(bins, self._binned(bins, columns))

    def _add(self, bins: _Bins, binned: NDArray[np.int16]) -> None:
        """Rows into the window, oldest out: one bincount in, one out, over all features at once."""
        binned = binned[-self.size :]  # a batch longer than the window: only its last rows stay
        slots = (self._next + np.arange(len(binned))) % self.size
        full = len(self._counts)
        # The first size - rows slots written are empty; the rest hold the oldest rows, which leave.
        evicted = max(0, self._rows + len(binned) - self.size)
        if evicted:
            old = self._window[slots[len(binned) - evicted :]]
            self._counts -= np.bincount((old + bins.offsets).ravel(), minlength=full)
        self._window[slots] = binned
        self._counts += np.bincount((binned + bins.offsets).ravel(), minlength=full)
        self._next = int((self._next + len(binned)) % self.size)
        self._rows = min(self.size, self._rows + len(binned))

    def counts(self, reference: Reference | None) -> tuple[int, dict[str, NDArray[np.int64]]] | None:
        """(rows in the window, its counts per bin per feature), pending rows included; None: nothing measured."""
        with self._lock:
            if (bins := self._use(reference)) is None:
                return None
            self._flush(bins)
            ends = [*bins.offsets.tolist(), len(self._counts)]
            counts = {name: self._counts[ends[i] : ends[i + 1]].copy() for i, name in enumerate(self.names)}
            return self._rows, counts

    def psi(self, reference: Reference | None) -> dict[str, float] | None:
        """PSI per feature of the window against the reference (scoring.drift.psi); None without rows."""
        window = self.counts(reference)
        if window is None or window[0] == 0 or reference is None:
            return None
        rows, counts = window
        expected = _Bins.of(self.profile, reference).expected  # 19 small arrays, once per scrape
        return {name: psi(e, counts[name] / rows) for name, e in zip(self.names, expected, strict=True)}


class DriftCollector(Collector):
    """`churn_feature_drift_psi{feature}` and `churn_feature_drift_window_rows`, computed at scrape time from
    this worker's window against the serving model's reference (module docstring: several workers)."""

    def __init__(self, drift: ServingDrift, store: ModelStore) -> None:
        self.drift = drift
        self.store = store

    def collect(self) -> Iterator[Metric]:
        current = self.store.current
        values = self.drift.psi(current.reference if current is not None else None)
        if values is None and (self.drift.size == 0 or current is None or current.reference is None):
            return  # no window or no reference: no drift metric at all, rather than a made-up zero
        rows = GaugeMetricFamily(
            "churn_feature_drift_window_rows",
            "Validated inputs in this worker's drift window (at most CHURN_DRIFT_WINDOW)",
        )
        rows.add_metric([], float(self.drift.rows))
        yield rows
        family = GaugeMetricFamily(
            "churn_feature_drift_psi",
            "PSI of the drift window against the serving model's training reference, per feature",
            labels=["feature"],
        )
        for name, value in (values or {}).items():
            family.add_metric([name], value)
        yield family

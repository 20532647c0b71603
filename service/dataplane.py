"""The work behind the routes, in plain Python: take validated customers, answer with one model version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import ModelNotReady
from service.model_store import LoadedModel, ModelStore


@dataclass(frozen=True)
class Scored:
    model_version: str
    probabilities: list[float]
    predictions: list[int]


class DataPlane:
    def __init__(self, store: ModelStore) -> None:
        self.store = store

    def model(self) -> LoadedModel:
        current = self.store.current
        if current is None:
            raise ModelNotReady(f"no model is loaded: {self.store.error or 'none found yet'}")
        return current

    def score(self, customers: Sequence[Mapping[str, Any]]) -> Scored:
        # Capture the model once: a concurrent swap cannot mix versions inside one request.
        model = self.model()
        probabilities = model.encoder.predict_proba(customers).tolist()
        threshold = model.manifest.threshold
        return Scored(model.version, probabilities, [int(p >= threshold) for p in probabilities])

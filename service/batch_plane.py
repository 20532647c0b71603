"""The work behind the CSV batch and the weekly list, in plain Python (never the web framework): the
`scoring` package's validator and scorer, shared with `python -m scoring weekly`.

Both run in a worker thread: a 10,000-row CSV batch or a whole export must not hold the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio

from scoring.batch import score_csv_batch
from scoring.header import UnusableInput
from scoring.runs import Selection
from scoring.weekly import Outcome, Scorer, run_weekly
from service.dataplane import DataPlane
from service.errors import FieldError, InvalidInput
from service.model_store import LoadedModel
from service.schemas import BatchPrediction, Prediction


@dataclass(frozen=True)
class Answer:
    model_version: str
    body: bytes


class BatchPlane:
    def __init__(self, dataplane: DataPlane, max_batch: int) -> None:
        self.dataplane = dataplane
        self.max_batch = max_batch
        self._scorer: tuple[LoadedModel, Scorer] | None = None

    def scorer(self) -> Scorer:
        """The serving model's scorer, rebuilt only when the store has swapped models."""
        model = self.dataplane.model()
        if self._scorer is None or self._scorer[0] is not model:
            self._scorer = (model, Scorer(self.dataplane.validator, model))
        return self._scorer[1]

    async def csv_batch(self, body: bytes, request_id: str, *, as_csv: bool) -> Answer:
        """The JSON batch's contract for a text/csv body: every row valid, or a 422 naming each bad one."""

        def work() -> Answer:
            try:
                batch = score_csv_batch(self.scorer(), body, self.max_batch)
            except InvalidInput as exc:
                self.dataplane.count_invalid(exc)
                raise
            self.dataplane.metrics.count_predictions(batch.model_version, batch.predictions.tolist())
            if as_csv:
                return Answer(batch.model_version, batch.to_csv())
            predictions = [
                Prediction.model_construct(
                    prediction=1 if label else 0, probability=p, model_version=batch.model_version,
                    request_id=request_id, customer_id=customer_id,
                )
                for p, label, customer_id in zip(
                    batch.probabilities.tolist(), batch.predictions.tolist(), batch.customer_ids, strict=True
                )
            ]  # fmt: skip
            answer = BatchPrediction.model_construct(
                model_version=batch.model_version, request_id=request_id, predictions=predictions
            )
            return Answer(batch.model_version, answer.model_dump_json(exclude_none=True).encode())

        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)

    async def weekly(self, source: Path, out: Path, selection: Selection, max_rejected_share: float) -> Outcome:
        """The weekly list of an uploaded export; an unusable upload is a 422 naming the problem."""
        scorer = self.scorer()

        def work() -> Outcome:
            outcome = run_weekly(source, out, scorer, selection=selection, max_rejected_share=max_rejected_share)
            self.dataplane.metrics.count_weekly(outcome.summary["rows"])
            return outcome

        try:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except UnusableInput as exc:
            message = str(exc).replace(str(source), "the upload")  # never a server path in an answer
            raise InvalidInput([FieldError(field="body", message=message)], 1) from exc

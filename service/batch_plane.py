"""The work behind the CSV batch and the weekly list, in plain Python (never the web framework): the
`scoring` package's validator and scorer, shared with `python -m scoring weekly`.

Both run in a worker thread: a 10,000-row CSV batch or a whole export must not hold the event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anyio

from scoring.archive import ArchiveError
from scoring.batch import CsvBatch, score_csv_batch
from scoring.header import UnusableInput
from scoring.listing import ListJob, make_list
from scoring.runs import Selection
from scoring.weekly import Outcome, Scorer
from service.dataplane import DataPlane, render_batch
from service.errors import FieldError, InvalidInput
from service.model_store import LoadedModel
from service.shadow import SCORING_FAILED, Shadow

log = logging.getLogger("churnguard.shadow")


@dataclass(frozen=True)
class Answer:
    model_version: str
    body: bytes


@dataclass(frozen=True)
class ListArchive:
    """Where the route's lists are archived, and the MLflow store they are logged to (None: not logged)."""

    root: Path
    tracking_uri: str | None = None


class BatchPlane:
    def __init__(
        self, dataplane: DataPlane, max_batch: int, archive: ListArchive, shadow: Shadow | None = None
    ) -> None:
        self.dataplane = dataplane
        self.max_batch = max_batch
        self.archive = archive
        self.shadow = shadow
        self._scorers: dict[str, tuple[LoadedModel, Scorer]] = {}

    def _scorer_of(self, role: str, model: LoadedModel) -> Scorer:
        """A model's scorer, rebuilt only when its store has swapped models."""
        cached = self._scorers.get(role)
        if cached is None or cached[0] is not model:
            cached = self._scorers[role] = (model, Scorer(self.dataplane.validator, model))
        return cached[1]

    def scorer(self) -> Scorer:
        """The serving model's scorer."""
        return self._scorer_of("champion", self.dataplane.model())

    def challenger_scorer(self) -> Scorer | None:
        """The shadow model's scorer; None when there is none (or it never loaded)."""
        model = self.shadow.model() if self.shadow is not None else None
        return self._scorer_of("challenger", model) if model is not None else None

    def _why_not(self) -> str:
        if self.shadow is None:
            return "no challenger configured"
        return f"the challenger is not loaded: {self.shadow.store.error or 'none found yet'}"

    def _shadow_csv(self, body: bytes, batch: CsvBatch) -> None:
        """The challenger scores the same CSV batch (parsed again: its own columns); never raises."""
        if self.shadow is None or (scorer := self.challenger_scorer()) is None:
            return
        try:
            theirs = score_csv_batch(scorer, body, self.max_batch)
            self.shadow.observe(batch.probabilities, batch.predictions.tolist(), theirs.probabilities,
                                scorer.model.manifest.threshold)  # fmt: skip
        except Exception as exc:  # a broken challenger must never reach the champion's answer
            self.shadow.errors.labels(SCORING_FAILED).inc()
            log.warning("challenger scoring failed: %s", type(exc).__name__)

    async def csv_batch(self, body: bytes, request_id: str, *, as_csv: bool) -> Answer:
        """The JSON batch's contract for a text/csv body: every row valid, or a 422 naming each bad one."""

        def work() -> Answer:
            try:
                scorer = self.scorer()
                batch = score_csv_batch(scorer, body, self.max_batch)
            except InvalidInput as exc:
                self.dataplane.count_invalid(exc)
                raise
            self.dataplane.observe_columns(scorer.model, batch.columns)
            self.dataplane.metrics.count_predictions(batch.model_version, batch.predictions.tolist())
            self._shadow_csv(body, batch)
            if as_csv:
                return Answer(batch.model_version, batch.to_csv())
            # The JSON batch's own renderer: the same answer, whichever format the batch came in.
            answer = render_batch(batch.model_version, request_id, batch.probabilities.tolist(),
                                  batch.predictions.tolist(), batch.customer_ids.to_pylist())  # fmt: skip
            return Answer(batch.model_version, answer)

        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)

    async def weekly(
        self, source: Path, out: Path, selection: Selection, max_rejected_share: float, week: str | None = None
    ) -> Outcome:
        """The weekly list of an uploaded export, archived (and the challenger's beside it, in shadow); an
        unusable upload is a 422 naming the problem."""
        scorer, challenger = self.scorer(), self.challenger_scorer()
        job = ListJob(
            source, out, self.archive.root, "http", selection=selection, max_rejected_share=max_rejected_share,
            week=week, tracking_uri=self.archive.tracking_uri,
        )  # fmt: skip

        def work() -> Outcome:
            outcome = make_list(job, scorer, challenger, self._why_not()).outcome
            self.dataplane.metrics.count_weekly(outcome.summary["rows"])
            if self.shadow is not None:
                self.shadow.observe_list(outcome.summary["shadow"])
            return outcome

        try:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except ArchiveError as exc:
            raise RuntimeError(str(exc)) from exc  # the server's own disk: a 500, logged, never a client's fault
        except UnusableInput as exc:
            message = str(exc).replace(str(source), "the upload")  # never a server path in an answer
            raise InvalidInput([FieldError(field="body", message=message)], 1) from exc

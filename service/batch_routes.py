"""HTTP for batch scoring beyond JSON: `text/csv` on POST /predict/batch, and POST /predict/weekly, the
weekly list over HTTP. Routes translate HTTP; the work is `scoring`'s, shared with the command.

No `from __future__ import annotations` here: FastAPI must see the real types in the endpoint signatures.

- `POST /predict/batch` with `Content-Type: text/csv`: a small ASGI dispatcher sends it to the CSV handler
  (FastAPI matches routes by path and method only, and the JSON route's body model would refuse CSV).
  Same contract as JSON: at most CHURN_MAX_BATCH rows, the whole batch refused with every bad row named.
  `Accept: text/csv` answers CSV; otherwise the JSON batch answer.
- `POST /predict/weekly`: the export (CSV or Parquet) is streamed to a temporary file, never held whole;
  the answer is the ranked list and the rejected rows (bad rows never refuse the rest). Limits: the body
  (CHURN_MAX_WEEKLY_BYTES, default 64 MiB, ~500k customers) and the request timeout.
"""

import csv
import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import pyarrow.csv as pa_csv
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from scoring.archive import ArchiveError, parse_week
from scoring.runs import Selection
from scoring.weekly import AT_RISK, REJECTED
from service.access import Access, needs
from service.batch_plane import BatchPlane
from service.errors import ChurnError, FieldError, InvalidInput, UnsupportedMediaType
from service.problems import problem_response
from service.routes import PROBLEMS as JSON_PROBLEMS

BATCH_PATH = "/predict/batch"
CSV_BATCH_PATH = "/predict/batch/csv"  # internal target of the dispatcher, never in the contract
WEEKLY_PATH = "/predict/weekly"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
WEEK_PATTERN = r"^\d{4}-W\d{2}$"
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **JSON_PROBLEMS,
    413: {"description": "Body larger than CHURN_MAX_WEEKLY_BYTES."},
    415: {"description": "Body is not text/csv or Parquet."},
    422: {"description": "The upload is unusable (not CSV or Parquet, required columns missing); bad rows are "
          "never refused here, they are listed in `rejected`."},
}  # fmt: skip


def media(headers: Headers, name: str = "content-type") -> str:
    return (headers.get(name) or "").split(";", 1)[0].strip().lower()


class CsvBatchDispatch:
    """Routes `POST /predict/batch` with a text/csv body to the CSV handler. Installed inside the auth
    middleware, so the key is checked against the public path first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == BATCH_PATH
            and scope["method"] == "POST"
            and media(Headers(scope=scope)) == CSV
        ):
            scope["path"] = CSV_BATCH_PATH
        await self.app(scope, receive, send)


class WeeklyAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_version: str
    request_id: str
    summary: dict[str, Any] = Field(description="As the command's summary.json: counts, bands, drift, hashes.")
    at_risk: list[dict[str, Any]] = Field(description="The ranked list, as the command's at_risk.csv.")
    rejected: list[dict[str, Any]] = Field(description="Every rejected row: line, customer_id, problems.")


def _rejected(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            {"line": int(r["line"]), "customer_id": r["customer_id"] or None, "problems": json.loads(r["problems"])}
            for r in csv.DictReader(handle)
        ]


def _week(text: str | None) -> str | None:
    """A week that matches the pattern but does not exist (2021-W53) is a 422 like any other bad query value."""
    if text is None:
        return None
    try:
        return parse_week(text)
    except ArchiveError as exc:
        raise InvalidInput([FieldError(field="week", message=str(exc))], 1) from exc


def build_batch_router(plane: BatchPlane) -> APIRouter:
    router = APIRouter(redirect_slashes=False)

    @router.post(CSV_BATCH_PATH, include_in_schema=False)
    @needs(Access.PREDICT)
    async def predict_batch_csv(request: Request) -> Response:
        request_id = request.state.request_id
        try:
            answer = await plane.csv_batch(
                await request.body(), request_id, as_csv=media(request.headers, "accept") == CSV
            )
        except ChurnError as error:
            # Answered here, not by the app's handler, so `instance` is the public path, not the dispatch target.
            return problem_response(error, BATCH_PATH, request_id)
        return Response(answer.body, media_type=CSV if media(request.headers, "accept") == CSV else "application/json")

    @router.post(
        WEEKLY_PATH,
        tags=["predict"],
        response_model=WeeklyAnswer,
        responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}, **PROBLEMS},
        openapi_extra={"requestBody": {"required": True, "content": {
            CSV: {"schema": {"type": "string"}}, PARQUET: {"schema": {"type": "string", "format": "binary"}},
        }}},
    )  # fmt: skip
    @needs(Access.PREDICT)
    async def weekly(
        request: Request,
        top: Annotated[int | None, Query(ge=1, description="List only the N most at risk.")] = None,
        min_probability: Annotated[float | None, Query(ge=0, le=1, description="List only those at or above.")] = None,
        max_rejected_share: Annotated[float, Query(ge=0, le=1, description="`over_limit` above it.")] = 0.01,
        week: Annotated[
            str | None,
            Query(pattern=WEEK_PATTERN, description="Archive under this ISO week (default: this week, UTC)."),
        ] = None,
    ) -> Response:
        """The weekly at-risk list from an uploaded export (streamed, CSV or Parquet): ranked list, rejected
        rows and summary. Bad rows are listed as rejected, never a refusal of the rest. Every list is archived
        by week with its summary and model version; a challenger, if configured, is compared in
        `summary.shadow`. `top` and `min_probability` may be combined (both cut). `Accept: text/csv` answers
        the list as CSV (`X-Rows-Read` and `X-Rows-Rejected` count the rows)."""
        if media(request.headers) not in (CSV, PARQUET):
            raise UnsupportedMediaType(request.headers.get("content-type"), f"{CSV} or {PARQUET}")
        work = Path(tempfile.mkdtemp(prefix="churn-weekly-"))
        try:
            source = work / "upload"
            with source.open("wb") as handle:  # streamed to disk: the export is never held whole
                async for part in request.stream():
                    handle.write(part)
            outcome = await plane.weekly(
                source, work / "out", Selection(top, min_probability), max_rejected_share, _week(week)
            )
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        summary = outcome.summary
        summary["over_limit"] = outcome.exit_status != 0
        if media(request.headers, "accept") == CSV:
            headers = {"X-Rows-Read": str(summary["rows"]["read"]), "X-Rows-Rejected": str(summary["rows"]["rejected"])}
            return FileResponse(
                work / "out" / AT_RISK, media_type=CSV, headers=headers,
                background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
            )  # fmt: skip
        try:
            listed = pa_csv.read_csv(work / "out" / AT_RISK).to_pylist()
            body = WeeklyAnswer.model_construct(
                model_version=summary["model"]["version"], request_id=request.state.request_id, summary=summary,
                at_risk=listed, rejected=_rejected(work / "out" / REJECTED),
            )  # fmt: skip
            return Response(body.model_dump_json(), media_type="application/json")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return router


def declare_csv(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document says /predict/batch also takes and gives text/csv."""
    operation = spec["paths"][BATCH_PATH]["post"]
    operation["requestBody"]["content"][CSV] = {
        "schema": {"type": "string", "description": "A header line (data set or snake_case names), then rows."}
    }
    operation["responses"]["200"]["content"][CSV] = {"schema": {"type": "string"}}
    return spec

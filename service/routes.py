"""HTTP routes: translate between HTTP and the data plane, nothing more.

No `from __future__ import annotations` here: FastAPI must see the request models, which are built
from the profile at app creation, as real objects in the endpoint signatures.
"""

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from service.auth import Role
from service.dataplane import DataPlane, Scored
from service.errors import UnsupportedMediaType
from service.manifest import Manifest
from service.metrics import ServiceMetrics
from service.model_store import ModelStore
from service.schemas import BatchPrediction, HealthStatus, Liveness, Prediction, RequestModels

PROBLEMS: dict[int | str, dict[str, Any]] = {status: {"description": text} for status, text in {
    400: "Malformed JSON body.",
    401: "API keys are configured and the request has none, or an invalid one.",
    403: "The key is valid but lacks the role this endpoint needs.",
    413: "Body larger than CHURN_MAX_BODY_BYTES.",
    415: "Body is not application/json.",
    422: "Input outside the training profile; `errors` lists every problem.",
    500: "Unexpected error; the detail is generic and the log holds the traceback.",
    503: "No model is loaded.",
    504: "The request ran longer than CHURN_REQUEST_TIMEOUT_SECONDS.",
}.items()}  # fmt: skip
READ_PROBLEMS: dict[int | str, dict[str, Any]] = {s: PROBLEMS[s] for s in (401, 403, 500, 503, 504)}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": HealthStatus, "description": "Unhealthy; `reason` says why and what to do."},
    500: {"description": "Unexpected error."},
    504: {"description": "The health check itself timed out."},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **HEALTH_RESPONSES,
    **{s: PROBLEMS[s] for s in (401, 403)},
}
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."},
    **{s: PROBLEMS[s] for s in (401, 403, 500, 504)},
}


def protected_paths(protect_metrics: bool) -> dict[str, Role]:
    """Which paths need which role when keys are configured; health probes are never listed."""
    paths = {"/predict": Role.PREDICT, "/predict/batch": Role.PREDICT, "/model": Role.PREDICT}
    paths["/admin/reload"] = Role.ADMIN
    if protect_metrics:
        paths["/metrics"] = Role.PREDICT
    return paths


async def require_json(request: Request) -> None:
    # async: a sync dependency would cost a threadpool hop on every request.
    if not await request.body():
        return  # no body, no media type to judge: validation answers 422 "field required"
    content_type = request.headers.get("content-type")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType(content_type)


def _answers(scored: Scored, request_id: str, customers: list[BaseModel]) -> list[Prediction]:
    # Our own values, already typed: constructed without re-validating (a batch has up to 10,000 rows).
    return [
        Prediction.model_construct(
            prediction=1 if label else 0,
            probability=probability,
            model_version=scored.model_version,
            request_id=request_id,
            customer_id=getattr(customer, "customer_id", None),
        )
        for probability, label, customer in zip(scored.probabilities, scored.predictions, customers, strict=True)
    ]


def build_router(models: RequestModels, dataplane: DataPlane, store: ModelStore, metrics: ServiceMetrics) -> APIRouter:
    router = APIRouter()
    Customer = models.customer
    CustomerBatch = models.batch

    def health_response(request: Request, force: bool = False) -> JSONResponse:
        store.refresh(force)  # stat-only unless the directory changed: picks up a restored or new model at once
        health = store.health()
        request.state.model_version = health.model_version
        body = HealthStatus(
            status="healthy" if health.healthy else "unhealthy",
            model_loaded=health.model_loaded,
            model_version=health.model_version,
            reason=health.reason,
        )
        return JSONResponse(body.model_dump(), status_code=200 if health.healthy else 503)

    @router.get("/health/live", tags=["health"], response_model=Liveness, responses={500: READ_PROBLEMS[500]})
    async def live() -> Liveness:
        """200 while the process serves requests. Says nothing about the model: that is readiness."""
        return Liveness()

    @router.get("/health/ready", tags=["health"], response_model=HealthStatus, responses=HEALTH_RESPONSES)
    def ready(request: Request) -> JSONResponse:
        """200 only when a model is loaded and its file on disk is unchanged; 503 with a reason otherwise."""
        return health_response(request)

    @router.get("/health", tags=["health"], response_model=HealthStatus, responses=HEALTH_RESPONSES)
    def health(request: Request) -> JSONResponse:
        """Same as /health/ready."""
        return health_response(request)

    @router.post("/admin/reload", tags=["admin"], response_model=HealthStatus, responses=ADMIN_RESPONSES)
    def reload(request: Request) -> JSONResponse:
        """Reload the model directory now (admin key); answers with the resulting health."""
        return health_response(request, force=True)

    @router.get("/metrics", tags=["monitoring"], response_class=Response, responses=METRICS_RESPONSES)
    def metrics_endpoint() -> Response:
        """Prometheus metrics: requests, latency, predictions, validation failures, model state."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/model", tags=["model"], response_model=Manifest, responses=READ_PROBLEMS)
    async def model(request: Request) -> Manifest:
        """The serving model's manifest: version, hashes, metrics, MLflow run id, features."""
        loaded = dataplane.model()
        request.state.model_version = loaded.version
        return loaded.manifest

    @router.post(
        "/predict",
        tags=["predict"],
        response_model=Prediction,
        response_model_exclude_none=True,
        responses=PROBLEMS,
        dependencies=[Depends(require_json)],
    )
    async def predict(request: Request, customer: Customer) -> Prediction:  # type: ignore[valid-type]
        """Churn prediction for one customer."""
        scored = dataplane.score([vars(customer)])
        request.state.model_version = scored.model_version
        metrics.count_predictions(scored.model_version, scored.predictions)
        return _answers(scored, request.state.request_id, [customer])[0]

    @router.post(
        "/predict/batch",
        tags=["predict"],
        response_model=BatchPrediction,
        response_model_exclude_none=True,
        responses=PROBLEMS,
        dependencies=[Depends(require_json)],
    )
    async def predict_batch(request: Request, batch: CustomerBatch) -> Response:  # type: ignore[valid-type]
        """Churn predictions for up to CHURN_MAX_BATCH customers, in order, all from one model version."""
        customers: list[BaseModel] = batch.customers  # type: ignore[attr-defined]
        request_id = request.state.request_id

        def answer() -> tuple[str, bytes]:
            scored = dataplane.score([vars(c) for c in customers])
            metrics.count_predictions(scored.model_version, scored.predictions)
            body = BatchPrediction.model_construct(
                model_version=scored.model_version,
                request_id=request_id,
                predictions=_answers(scored, request_id, customers),
            )
            return scored.model_version, body.model_dump_json(exclude_none=True).encode()

        # A full batch takes tens of milliseconds: off the event loop, so probes and single predictions flow.
        # abandon_on_cancel: on a timeout the request answers 504 at once; the thread's result is discarded.
        version, body = await anyio.to_thread.run_sync(answer, abandon_on_cancel=True)
        request.state.model_version = version
        return Response(body, media_type="application/json")

    return router

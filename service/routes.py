"""HTTP routes: translate between HTTP and the data plane, nothing more. Each route declares the access
it needs (`service.access.needs`); one that declares nothing needs a key.

The JSON routes read their body as bytes and hand it to the data plane, which validates it off the event
loop; the request models appear in the contract through `openapi_extra`.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from service.access import Access, needs
from service.dataplane import DataPlane
from service.errors import UnsupportedMediaType
from service.manifest import Manifest
from service.metrics import ServiceMetrics
from service.model_store import Health
from service.schemas import BatchPrediction, HealthStatus, Liveness, Prediction, RequestModels

PROBLEMS: dict[int | str, dict[str, Any]] = {status: {"description": text} for status, text in {
    400: "Malformed JSON body, or a body that is not UTF-8.",
    401: "API keys are configured and the request has none, or an invalid one.",
    403: "The key is valid but lacks the role this endpoint needs.",
    408: "The body did not arrive within CHURN_CLIENT_TIMEOUT_SECONDS: the client stalled.",
    413: "Body larger than CHURN_MAX_BODY_BYTES, or holding more JSON values than the largest batch can.",
    415: "Body is not application/json (UTF-8).",
    422: "Input outside the training profile; `errors` lists the problems (at most 100 per row, 1,000 in all).",
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


def _media_ok(content_type: str) -> bool:
    """`application/json`, any case, with no charset or `charset=utf-8`: the body is read as strict UTF-8."""
    media, *parameters = content_type.split(";")
    if media.strip().lower() != "application/json":
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in {"utf-8", "utf8"}:
            return False
    return True


async def json_body(request: Request) -> bytes:
    """The raw body of a JSON request; 415 for any other media type (judged before a byte is read)."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _media_ok(content_type):
        raise UnsupportedMediaType(content_type)
    body = await request.body()
    if body and content_type is None:
        raise UnsupportedMediaType(None)
    return body  # empty: no media type to judge; validation answers 422 "field required"


def _request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The body in the contract: these routes read the bytes themselves (validation runs off the event loop)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _health_answer(health: Health) -> JSONResponse:
    body = HealthStatus(
        status="healthy" if health.healthy else "unhealthy",
        model_loaded=health.model_loaded,
        model_version=health.model_version,
        reason=health.reason,
    )
    return JSONResponse(body.model_dump(), status_code=200 if health.healthy else 503)


def build_router(models: RequestModels, dataplane: DataPlane, metrics: ServiceMetrics) -> APIRouter:
    # redirect_slashes off: `/predict/` is not in the contract, so it is a 404, never a redirect built from Host.
    router = APIRouter(redirect_slashes=False)

    @router.get("/health/live", tags=["health"], response_model=Liveness, responses={500: READ_PROBLEMS[500]})
    @needs(Access.OPEN)
    async def live() -> Liveness:
        """200 while the process serves requests. Says nothing about the model: that is readiness."""
        return Liveness()

    @router.get("/health/ready", tags=["health"], response_model=HealthStatus, responses=HEALTH_RESPONSES)
    @needs(Access.OPEN)
    def ready() -> JSONResponse:
        """200 only when a model is loaded and its file on disk is unchanged; 503 with a reason otherwise."""
        return _health_answer(dataplane.ready())

    @router.get("/health", tags=["health"], response_model=HealthStatus, responses=HEALTH_RESPONSES)
    @needs(Access.OPEN)
    def health() -> JSONResponse:
        """Same as /health/ready."""
        return _health_answer(dataplane.ready())

    @router.post("/admin/reload", tags=["admin"], response_model=HealthStatus, responses=ADMIN_RESPONSES)
    @needs(Access.ADMIN)
    def reload() -> JSONResponse:
        """Reload the model directory now (admin key); answers with the resulting health."""
        return _health_answer(dataplane.ready(reload=True))

    @router.get("/metrics", tags=["monitoring"], response_class=Response, responses=METRICS_RESPONSES)
    @needs(Access.METRICS)
    def metrics_endpoint() -> Response:
        """Prometheus metrics: requests, latency, predictions, validation failures, model state."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/model", tags=["model"], response_model=Manifest, responses=READ_PROBLEMS)
    @needs(Access.PREDICT)
    async def model() -> Manifest:
        """The serving model's manifest: version, hashes, metrics, MLflow run id, features."""
        return dataplane.manifest()

    @router.post(
        "/predict",
        tags=["predict"],
        response_model=Prediction,
        response_model_exclude_none=True,
        responses=PROBLEMS,
        openapi_extra=_request_body(models.customer),
    )
    @needs(Access.PREDICT)
    async def predict(request: Request) -> Prediction:
        """Churn prediction for one customer."""
        return await dataplane.predict(await json_body(request), request.state.request_id)

    @router.post(
        "/predict/batch",
        tags=["predict"],
        response_model=BatchPrediction,
        response_model_exclude_none=True,
        responses=PROBLEMS,
        openapi_extra=_request_body(models.batch),
    )
    @needs(Access.PREDICT)
    async def predict_batch(request: Request) -> Response:
        """Churn predictions for up to CHURN_MAX_BATCH customers, in order, all from one model version."""
        body = await dataplane.predict_batch(await json_body(request), request.state.request_id)
        return Response(body, media_type="application/json")

    return router

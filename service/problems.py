"""Rendering every error as RFC 9457 problem+json: our own errors, framework HTTP errors, validation errors."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.errors import (
    HTTP_ERRORS,
    PROBLEM_MEDIA_TYPE,
    ChurnError,
    FieldError,
    InvalidInput,
    MalformedRequest,
    PayloadTooLarge,
    problem_for,
)
from service.metrics import ServiceMetrics
from service.profile import CategoricalFeature, DataProfile
from service.schemas import CROSS_FIELD_ERROR


class BodyTooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so the framework's body reader lets it through untouched."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413)
        self.limit = limit


def problem_response(error: ChurnError, instance: str, request_id: str) -> Response:
    problem = problem_for(error, instance, request_id)
    return Response(
        problem.model_dump_json(exclude_none=True),
        status_code=error.status_code,
        headers=error.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def field_path(loc: Sequence[int | str]) -> str:
    """('body', 'customers', 3, 'tenure') -> 'customers[3].tenure'."""
    path = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


class ValidationErrorFormatter:
    """Turns pydantic's errors into our `errors` entries, adding the profile's range or category set."""

    def __init__(self, profile: DataProfile) -> None:
        self.profile = profile

    def _entry(self, path: str, leaf: Any, message: str) -> FieldError:
        spec = self.profile.features.get(leaf) if isinstance(leaf, str) else None
        if isinstance(spec, CategoricalFeature):
            return FieldError(field=path, message=message, allowed=list(spec.allowed))
        if spec is not None:
            return FieldError(field=path, message=message, valid_range={"min": spec.min, "max": spec.max})
        return FieldError(field=path, message=message)

    def format(self, errors: Sequence[Any]) -> list[FieldError]:
        entries: list[FieldError] = []
        for error in errors:
            loc = tuple(error.get("loc", ()))
            if error.get("type") == CROSS_FIELD_ERROR:
                prefix = field_path(loc)
                for broken in error["ctx"]["violations"]:
                    path = broken["field"] if prefix == "body" else f"{prefix}.{broken['field']}"
                    entries.append(FieldError(field=path, message=broken["message"], rule=broken["rule"]))
                continue
            if error.get("type") == "extra_forbidden":
                # No range or categories: an unknown key may share a feature's name (`tenure` beside `customers`).
                entries.append(FieldError(field=field_path(loc), message="unknown field"))
                continue
            message = "field required" if error.get("type") == "missing" else str(error.get("msg"))
            entries.append(self._entry(field_path(loc), loc[-1] if loc else None, message))
        return entries


def metric_field(path: str, features: Collection[str]) -> str:
    """`customers[3].tenure` -> `tenure`; anything not a profiled feature -> `other` (bounded label values)."""
    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return leaf if leaf in features else "other"


def install_problem_handlers(app: FastAPI, formatter: ValidationErrorFormatter, metrics: ServiceMetrics) -> None:
    # Starlette types handlers as taking Exception; each is registered for exactly one class, hence the casts.
    async def on_churn_error(request: Request, exc: Exception) -> Response:
        return problem_response(cast(ChurnError, exc), request.url.path, _request_id(request))

    async def on_http_error(request: Request, raised: Exception) -> Response:
        exc = cast(HTTPException, raised)
        error: ChurnError
        if isinstance(exc, BodyTooLarge):
            error = PayloadTooLarge(exc.limit)
        else:
            kind = HTTP_ERRORS.get(exc.status_code)
            if kind is None:
                kind = type("HTTPError", (ChurnError,), {"status_code": exc.status_code})
                kind.title = HTTPStatus(exc.status_code).phrase
                kind.slug = kind.title.lower().replace(" ", "-")
            error = kind(_http_detail(exc, request))
        error.headers.update(exc.headers or {})  # keeps Allow on 405
        return problem_response(error, request.url.path, _request_id(request))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        errors = cast(RequestValidationError, exc).errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            detail = next(str(e.get("ctx", {}).get("error", "")) for e in errors if e.get("type") == "json_invalid")
            error: ChurnError = MalformedRequest(f"the body is not valid JSON: {detail}")
        else:
            entries = formatter.format(errors)
            for entry in entries:
                metrics.validation_failures.labels(metric_field(entry.field, formatter.profile.features)).inc()
            error = InvalidInput(entries)
        return problem_response(error, request.url.path, _request_id(request))

    app.add_exception_handler(ChurnError, on_churn_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def _http_detail(exc: HTTPException, request: Request) -> str:
    if exc.status_code == 404:
        return f"no resource at {request.url.path}"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
    return str(exc.detail)

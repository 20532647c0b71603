"""How an error is told over HTTP: the RFC 9457 problem document, its response, and the handlers that
turn framework errors (404, 405, a stray validation error) into it. The errors themselves: `service.errors`."""

from __future__ import annotations

from http import HTTPStatus
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.errors import (
    ChurnError,
    FieldError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    clip,
)
from service.validation import field_path

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="forbid")

    type: str
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request path (clipped to 120 characters).")
    request_id: str
    errors: list[FieldError] | None = Field(
        default=None, description="The problems with the input (422 only): at most 100 per row and 1,000 in all."
    )
    errors_omitted: int | None = Field(
        default=None, description="How many more problems were found than `errors` lists (422 only, when above 0)."
    )


def problem_for(error: ChurnError, instance: str, request_id: str) -> Problem:
    invalid = error if isinstance(error, InvalidInput) else None
    return Problem(
        type=error.type_uri,
        title=error.title,
        status=error.status_code,
        detail=error.detail,
        instance=clip(instance),
        request_id=request_id,
        errors=invalid.errors if invalid else None,
        errors_omitted=invalid.omitted if invalid and invalid.omitted else None,
    )


def problem_bytes(error: ChurnError, instance: str, request_id: str) -> bytes:
    return problem_for(error, instance, request_id).model_dump_json(exclude_none=True).encode()


def problem_response(error: ChurnError, instance: str, request_id: str) -> Response:
    return Response(
        problem_bytes(error, instance, request_id),
        status_code=error.status_code,
        headers=error.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def http_error(exc: HTTPException, method: str, path: str) -> ChurnError:
    """A framework HTTPException as one of our errors (the router raises 404 and 405 itself)."""
    if exc.status_code == 404:
        return NotFound(path)
    if exc.status_code == 405:
        allowed = [m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()]
        if "GET" in allowed and "HEAD" not in allowed:
            allowed.append("HEAD")  # the middleware serves HEAD wherever GET is served
        return MethodNotAllowed(method, path, ", ".join(allowed))
    phrase = HTTPStatus(exc.status_code).phrase
    slug = phrase.lower().replace(" ", "-")
    kind: type[ChurnError] = type(
        "HTTPError", (ChurnError,), {"status_code": exc.status_code, "title": phrase, "slug": slug}
    )
    error = kind(clip(str(exc.detail)))
    error.headers.update(exc.headers or {})
    return error


def install_problem_handlers(app: FastAPI) -> None:
    # Starlette types handlers as taking Exception; each is registered for exactly one class, hence the casts.
    async def on_churn_error(request: Request, exc: Exception) -> Response:
        return problem_response(cast(ChurnError, exc), request.url.path, _request_id(request))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        error = http_error(cast(HTTPException, exc), request.method, request.url.path)
        return problem_response(error, request.url.path, _request_id(request))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        # Our JSON routes validate with `service.validation`; this catches a parameter on a route added later.
        errors = cast(RequestValidationError, exc).errors()[:1000]
        entries = [FieldError(field=field_path("", tuple(e.get("loc", ()))), message=str(e.get("msg"))) for e in errors]
        return problem_response(InvalidInput(entries, len(entries)), request.url.path, _request_id(request))

    app.add_exception_handler(ChurnError, on_churn_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)

"""One base exception carrying its HTTP status, and the RFC 9457 problem document every error becomes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://churnguard.invalid/problems/"  # .invalid: a stable name, deliberately not a URL to fetch


class FieldError(BaseModel):
    """One problem with one input field."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Path of the field, e.g. `tenure` or `customers[3].tenure`.")
    message: str
    valid_range: dict[str, int | float] | None = Field(default=None, description="Inclusive bounds, for range errors.")
    allowed: list[Any] | None = Field(default=None, description="Accepted values, for category errors.")
    rule: str | None = Field(default=None, description="Cross-field rule broken, for consistency errors.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="forbid")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    errors: list[FieldError] | None = Field(default=None, description="Every invalid field (422 only).")


class ChurnError(Exception):
    """Base of every error the service answers with on purpose. Subclasses fix status and title."""

    status_code = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


class Unauthorized(ChurnError):
    status_code, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="churnguard"'})


class Forbidden(ChurnError):
    status_code, title, slug = 403, "Forbidden", "forbidden"


class MalformedRequest(ChurnError):
    status_code, title, slug = 400, "Malformed Request", "malformed-request"


class NotFound(ChurnError):
    status_code, title, slug = 404, "Not Found", "not-found"


class MethodNotAllowed(ChurnError):
    status_code, title, slug = 405, "Method Not Allowed", "method-not-allowed"


class PayloadTooLarge(ChurnError):
    status_code, title, slug = 413, "Content Too Large", "content-too-large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")


class UnsupportedMediaType(ChurnError):
    status_code, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"

    def __init__(self, received: str | None, expected: str = "application/json") -> None:
        super().__init__(f"send the body as {expected} (received {received or 'no Content-Type'})")


class InvalidInput(ChurnError):
    status_code, title, slug = 422, "Invalid Input", "invalid-input"

    def __init__(self, errors: list[FieldError]) -> None:
        noun = "problem" if len(errors) == 1 else "problems"
        super().__init__(f"{len(errors)} {noun} with the input; see `errors`")
        self.errors = errors


class ModelNotReady(ChurnError):
    status_code, title, slug = 503, "Model Not Ready", "model-not-ready"


class RequestTimedOut(ChurnError):
    status_code, title, slug = 504, "Request Timed Out", "request-timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g} s and was abandoned; retry with a smaller batch")


class InternalError(ChurnError):
    """What an unexpected exception becomes: a generic detail, never the traceback."""

    def __init__(self) -> None:
        super().__init__("an unexpected error occurred; quote the request_id to the operators")


HTTP_ERRORS: dict[int, type[ChurnError]] = {
    400: MalformedRequest,
    404: NotFound,
    405: MethodNotAllowed,
}


def problem_for(error: ChurnError, instance: str, request_id: str) -> Problem:
    return Problem(
        type=error.type_uri,
        title=error.title,
        status=error.status_code,
        detail=error.detail,
        instance=instance,
        request_id=request_id,
        errors=error.errors if isinstance(error, InvalidInput) else None,
    )

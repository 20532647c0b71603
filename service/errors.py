"""What can go wrong, in plain Python: one base exception carrying its HTTP status, one class per error.

The class name, the title and the `type` slug name the same thing. How an error is told over HTTP (the
RFC 9457 document and its response) lives in `service.problems`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_TYPE_BASE = "https://churnguard.invalid/problems/"  # .invalid: a stable name, deliberately not a URL to fetch
ECHO_LIMIT = 120  # characters of client input (paths, field names, media types) ever repeated in an answer or log


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """Client input as it may be echoed: at most `limit` characters, with how many more there were."""
    return text if len(text) <= limit else f"{text[:limit]}…(+{len(text) - limit} characters)"


class FieldError(BaseModel):
    """One problem with one input field."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Path of the field, e.g. `tenure` or `customers[3].tenure`.")
    message: str
    valid_range: dict[str, int | float] | None = Field(default=None, description="Inclusive bounds, for range errors.")
    allowed: list[Any] | None = Field(default=None, description="Accepted values, for category errors.")
    rule: str | None = Field(default=None, description="Cross-field rule broken, for consistency errors.")


class ChurnError(Exception):
    """Base of every error the service answers with on purpose. Subclasses fix status, title and slug."""

    status_code = 500
    title = "Internal Error"
    slug = "internal-error"

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


class MalformedRequest(ChurnError):
    status_code, title, slug = 400, "Malformed Request", "malformed-request"


class Unauthorized(ChurnError):
    status_code, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="churnguard"'})


class Forbidden(ChurnError):
    status_code, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ChurnError):
    status_code, title, slug = 404, "Not Found", "not-found"

    def __init__(self, path: str) -> None:
        super().__init__(f"no resource at {clip(path)}")


class MethodNotAllowed(ChurnError):
    status_code, title, slug = 405, "Method Not Allowed", "method-not-allowed"

    def __init__(self, method: str, path: str, allow: str) -> None:
        super().__init__(f"{clip(method)} is not allowed on {clip(path)}; allowed: {allow}", headers={"Allow": allow})


class RequestTimeout(ChurnError):
    """The client stopped sending: its headers or its body did not arrive in time. The client's fault."""

    status_code, title, slug = 408, "Request Timeout", "request-timeout"


class ContentTooLarge(ChurnError):
    status_code, title, slug = 413, "Content Too Large", "content-too-large"


class UriTooLong(ChurnError):
    status_code, title, slug = 414, "URI Too Long", "uri-too-long"


class UnsupportedMediaType(ChurnError):
    status_code, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"

    def __init__(self, received: str | None, expected: str = "application/json, UTF-8") -> None:
        what = clip(received) if received else "no Content-Type"
        super().__init__(f"send the body as {expected} (received {what})")


class InvalidInput(ChurnError):
    status_code, title, slug = 422, "Invalid Input", "invalid-input"

    def __init__(self, errors: list[FieldError], total: int) -> None:
        noun = "problem" if total == 1 else "problems"
        listed = "see `errors`" if total == len(errors) else f"the first {len(errors)} are in `errors`"
        super().__init__(f"{total} {noun} with the input; {listed}")
        self.errors = errors
        self.omitted = total - len(errors)


class HeadersTooLarge(ChurnError):
    status_code, title, slug = 431, "Request Header Fields Too Large", "request-header-fields-too-large"


class ModelNotReady(ChurnError):
    status_code, title, slug = 503, "Model Not Ready", "model-not-ready"


class ProcessingTimedOut(ChurnError):
    """The service itself took too long (a slow model, an overloaded host): the server's fault."""

    status_code, title, slug = 504, "Processing Timed Out", "processing-timed-out"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g} s and was abandoned; retry with a smaller batch")


class InternalError(ChurnError):
    """What an unexpected exception becomes: a generic detail, never the traceback."""

    def __init__(self) -> None:
        super().__init__("an unexpected error occurred; quote the request_id to the operators")

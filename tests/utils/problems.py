"""Checking answers against the service's contract: RFC 9457 problem+json for errors, and the request id."""

from __future__ import annotations

from typing import Any

import httpx2

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(answer: httpx2.Response, status: int) -> dict[str, Any]:
    """Assert `answer` is a complete problem document for `status`; return its body."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert set(body) <= PROBLEM_KEYS | {"errors"}, body
    assert body["status"] == status
    assert body["type"].startswith("https://churnguard.invalid/problems/")
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == answer.request.url.path
    assert body["request_id"] == answer.headers["x-request-id"]
    return body


def field_errors(answer: httpx2.Response) -> dict[str, dict[str, Any]]:
    """A 422 answer's `errors`, keyed by field path (asserting no field is listed twice)."""
    body = assert_problem(answer, 422)
    errors: list[dict[str, Any]] = body["errors"]
    by_field = {error["field"]: error for error in errors}
    assert len(by_field) == len(errors), errors
    return by_field

"""Access control before anything else runs: a request without the right key never reaches body parsing.

Closed by default: every route declares what it needs with `@needs(...)`; a route that declares nothing,
and a path no route matches, need a predict key whenever keys are configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth import KeyRing, Role, presented_key
from service.errors import Forbidden, Unauthorized, clip
from service.problems import problem_response

log = logging.getLogger("churnguard.access")
F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "churnguard_access"


class Access(StrEnum):
    OPEN = "open"  # probes and the published contract: never a key, so the orchestrator can always ask
    PREDICT = "predict"
    ADMIN = "admin"
    METRICS = "metrics"  # open, unless CHURN_PROTECT_METRICS asks for a predict key


def needs(access: Access) -> Callable[[F], F]:
    """Declare what an endpoint needs; put it under the route decorator."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, access)
        return endpoint

    return mark


def access_of(route: BaseRoute) -> Access:
    """What `route` declared; nothing declared means a key."""
    declared = getattr(getattr(route, "endpoint", None), _ATTRIBUTE, None)
    return declared if isinstance(declared, Access) else Access.PREDICT


def leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every endpoint route, included routers opened up (FastAPI keeps an included router as one node)."""
    for route in routes:
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested is None:
            yield route
        else:
            yield from leaf_routes(nested)


def role_for(access: Access, protect_metrics: bool) -> Role | None:
    if access is Access.OPEN or (access is Access.METRICS and not protect_metrics):
        return None
    return Role.ADMIN if access is Access.ADMIN else Role.PREDICT


class AuthMiddleware:
    """Finds the route a request is for, as the router will, and checks the key that route needs.

    `routes` is the app's live route list: a route added after the app was built is covered too."""

    def __init__(self, app: ASGIApp, keys: KeyRing, routes: Sequence[BaseRoute], protect_metrics: bool) -> None:
        self.app = app
        self.keys = keys
        self.routes = routes
        self.protect_metrics = protect_metrics

    def required(self, scope: Scope) -> Role | None:
        partial: BaseRoute | None = None
        for route in leaf_routes(self.routes):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return role_for(access_of(route), self.protect_metrics)
            if match is Match.PARTIAL and partial is None:
                partial = route  # the path matches, the method does not: the router answers 405 for it
        return role_for(access_of(partial) if partial else Access.PREDICT, self.protect_metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        role = self.required(scope) if scope["type"] == "http" and self.keys.enabled else None
        if role is None:
            await self.app(scope, receive, send)
            return
        key = presented_key(Headers(scope=scope))
        granted = self.keys.roles_for(key) if key is not None else None
        error: Unauthorized | Forbidden | None = None
        if key is None:
            error = Unauthorized("send an API key as `Authorization: Bearer KEY` or `X-API-Key: KEY`")
        elif granted is None:
            error = Unauthorized("the API key is not valid")
        elif role not in granted:
            error = Forbidden(f"this key lacks the `{role.value}` role needed for {clip(scope['path'])}")
        if error is None:
            scope.setdefault("state", {})["role"] = role.value
            await self.app(scope, receive, send)
            return
        request_id = str(scope.get("state", {}).get("request_id", ""))
        await problem_response(error, scope["path"], request_id)(scope, receive, send)

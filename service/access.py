"""Access control before anything else runs: a request without the right key never reaches body parsing."""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth import KeyRing, Role, presented_key
from service.errors import Forbidden, Unauthorized
from service.problems import problem_response

log = logging.getLogger("churnguard.access")


class AuthMiddleware:
    """Checks the key for the paths in `protected`; every other path (health probes) stays open."""

    def __init__(self, app: ASGIApp, keys: KeyRing, protected: dict[str, Role]) -> None:
        self.app = app
        self.keys = keys
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        role = self.protected.get(scope["path"]) if scope["type"] == "http" and self.keys.enabled else None
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
            error = Forbidden(f"this key lacks the `{role.value}` role needed for {scope['path']}")
        if error is None:
            scope.setdefault("state", {})["role"] = role.value
            await self.app(scope, receive, send)
            return
        request_id = str(scope.get("state", {}).get("request_id", ""))
        await problem_response(error, scope["path"], request_id)(scope, receive, send)

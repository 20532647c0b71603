"""The OpenAPI document is the contract: every error answer declared as problem+json.

`python -m service.spec` writes the committed copy, `openapi.json`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.problems import PROBLEM_MEDIA_TYPE, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def build_openapi(app: FastAPI, protected: Collection[str], bodies: Collection[type[BaseModel]]) -> dict[str, Any]:
    """FastAPI's document, with the request `bodies` the JSON routes read themselves, and every error
    answer (health excepted) declared as problem+json."""
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [Problem, *bodies]
    for model in models:
        schemas[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schemas[model.__name__].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    spec["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key as a bearer token."},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    for path, methods in spec["paths"].items():
        for operation in methods.values():
            if path in protected:
                # `{}`: keys are optional on loopback; when configured, one of the two schemes is required.
                operation["security"] = [{"bearer": []}, {"apiKey": []}, {}]
            for status, response in operation["responses"].items():
                if status.startswith("2") or _is_health_body(response):
                    continue  # health answers are plain JSON in both states
                if "health" in operation.get("tags", []) and "content" not in response:
                    continue
                response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    return spec


def _is_health_body(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HealthStatus"))


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"

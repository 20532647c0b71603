"""The OpenAPI document is the contract: every error answer declared as problem+json.

`python -m service.spec` writes the committed copy, `openapi.json`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.errors import PROBLEM_MEDIA_TYPE, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error answer (health excepted) declared as problem+json."""
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for methods in spec["paths"].values():
        for operation in methods.values():
            if "health" in operation.get("tags", []):
                continue
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    return spec


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"

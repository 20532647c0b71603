"""Which declared constraints a request body breaks: named in a failure, so "accepted negative data" says *what*
the service let through (`tenure=99 above maximum 72`), not only that it did. A reader, not a full validator."""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    # JSON Schema: 1.0 is an integer too.
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def _resolve(schema: Any, spec: dict[str, Any]) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _scalar(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _TYPES and not _TYPES[kind](value):
        return [f"{path}={value!r} is not of type {kind}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}={value!r} is not one of {schema['enum']}")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}={value!r} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}={value!r} is above the maximum {schema['maximum']}")
    return problems


def violations(value: Any, schema: Any, spec: dict[str, Any], path: str = "body") -> list[str]:
    """The constraints of `schema` (refs resolved in `spec`) that `value` breaks; [] when none are found."""
    schema = _resolve(schema, spec)
    if not isinstance(schema, dict):
        return []
    if "anyOf" in schema:
        branches = [violations(value, branch, spec, path) for branch in schema["anyOf"]]
        return [] if any(not found for found in branches) else min(branches, key=len)
    problems = _scalar(value, schema, path)
    if problems:
        return problems
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{path}.{name} is missing" for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name in properties:
                problems += violations(item, properties[name], spec, f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}.{name} is not a declared property")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            bounds = f"[{schema.get('minItems')}, {schema.get('maxItems')}]"
            problems.append(f"{path} has {len(value)} items, outside {bounds}")
        for index, item in enumerate(value):
            problems += violations(item, schema.get("items"), spec, f"{path}[{index}]")
    return problems

"""Strict compact JSON and a dependency-free checker for the JSON Schema subset of the package's JSON reports.

Used by :mod:`lingbot_depth_ros.navigation.report_json` and :mod:`lingbot_depth_ros.surfaces.report_json`
so that consumers without the ``jsonschema`` package can validate messages.
"""

from __future__ import annotations

import json
from typing import Any, Callable

#: schema of a report's ``stamp`` (builtin_interfaces/Time of the analysed data: ``{"sec": .., "nanosec": ..}``)
STAMP_SCHEMA: dict[str, Any] = {"type": "object", "required": ["sec", "nanosec"],
                                "properties": {"sec": {"type": "integer"},
                                               "nanosec": {"type": "integer", "minimum": 0, "maximum": 999999999}}}

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str), "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}


def dumps_strict(document: Any) -> str:
    """Compact strict JSON text of ``document`` (no NaN/Infinity tokens: ValueError on non-finite floats)."""
    return json.dumps(document, allow_nan=False, separators=(",", ":"))


def schema_errors(document: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Violations of ``schema`` by ``document`` (a parsed JSON value), for the JSON Schema subset
    type, const, enum, required, properties, items, minItems, minimum, maximum; empty = valid.

    Args:
        document: the parsed JSON value.
        schema: a JSON Schema using only the keywords above.
        path: JSONPath-like prefix of the messages (``$`` = the document root).
    """
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        if not any(_TYPES[t](document) for t in allowed):
            return [f"{path}: expected {' or '.join(allowed)}, got {type(document).__name__}"]
    errors: list[str] = []
    if "const" in schema and document != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}, got {document!r}")
    if "enum" in schema and document not in schema["enum"]:
        errors.append(f"{path}: {document!r} not in {schema['enum']}")
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        if "minimum" in schema and document < schema["minimum"]:
            errors.append(f"{path}: {document} < minimum {schema['minimum']}")
        if "maximum" in schema and document > schema["maximum"]:
            errors.append(f"{path}: {document} > maximum {schema['maximum']}")
    if isinstance(document, dict):
        errors += [f"{path}: missing {key!r}" for key in schema.get("required", []) if key not in document]
        for key, sub in schema.get("properties", {}).items():
            if key in document:
                errors += schema_errors(document[key], sub, f"{path}.{key}")
    if isinstance(document, list):
        if len(document) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, item in enumerate(document):
                errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    return errors


__all__ = ["STAMP_SCHEMA", "dumps_strict", "schema_errors"]

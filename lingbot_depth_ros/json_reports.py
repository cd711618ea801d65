"""What the package's JSON reports share (obstacle sectors, surfaces): the stamp schema, the strict compact
writer, and validation against a report's JSON Schema with the ``jsonschema`` package."""

from __future__ import annotations

import json
from typing import Any

#: schema of a report's ``stamp`` (builtin_interfaces/Time of the analysed data: ``{"sec": .., "nanosec": ..}``)
STAMP_SCHEMA: dict[str, Any] = {"type": "object", "required": ["sec", "nanosec"],
                                "properties": {"sec": {"type": "integer"},
                                               "nanosec": {"type": "integer", "minimum": 0, "maximum": 999999999}}}


def dumps_strict(document: Any) -> str:
    """Compact strict JSON text of ``document`` (no NaN/Infinity tokens: ValueError on non-finite floats)."""
    return json.dumps(document, allow_nan=False, separators=(",", ":"))


def schema_errors(document: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Violations of ``schema`` by ``document`` (a parsed JSON value), one ``"<path>: <message>"`` string
    each (e.g. ``"$.sectors[1]: 'distance_m' is a required property"``); empty = valid.

    Args:
        document: the parsed JSON value.
        schema: a JSON Schema (its ``$schema`` dialect, Draft 2020-12 when it names none).
        path: JSONPath-like prefix of the messages (``$`` = the document root).
    """
    import jsonschema  # imported here: the nodes publish reports but never validate them (import ~0.1 s)

    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
    return [path + "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in error.absolute_path)
            + f": {error.message}" for error in validator.iter_errors(document)]


__all__ = ["STAMP_SCHEMA", "dumps_strict", "schema_errors"]

"""The machine-readable surfaces report (``surfaces`` topic, std_msgs/String carrying JSON; CLI; HTTP API).

Schema ``lingbot_depth_ros/surfaces`` version 1 (:data:`SURFACES_JSON_SCHEMA`, also in
docs/surfaces.schema.json)::

    {
      "schema": "lingbot_depth_ros/surfaces", "version": 1,
      "stamp": {"sec": 1700000000, "nanosec": 0},     # stamp of the depth analysed
      "frame_id": "base_link",                        # z-up frame of every coordinate [m]
      "floor_z_m": 0.0 | null, "floor_source": "given" | "estimated" | "none",
      "parameters": {"max_tilt_deg": 10.0, "clearance_m": 0.2, "min_area_m2": 0.04},
      "surfaces": [                                   # largest first
        {"id": 0, "kind": "floor" | "horizontal" | "vertical" | "tilted", "horizontal": true,
         "normal": [0, 0, 1],                         # unit, towards the free side
         "offset_m": -0.75,                           # plane: normal . p + offset_m = 0
         "tilt_deg": 0.3,                             # angle between normal and up
         "height_m": 0.75 | null,                     # centroid height above the floor
         "centroid": [x, y, z], "area_m2": 0.96,
         "extent": {"center": [x, y, z], "axis_length": [..], "axis_width": [..],
                    "length_m": 1.2, "width_m": 0.8, "corners": [[x, y, z] x 4]},
         "free_square": {"side_m": 0.4, "center": [x, y, z]} | null,   # no points up to clearance_m above
         "n_points": 812, "rms_m": 0.004, "curvature_per_m": 0.02}
      ]
    }

Strict JSON: no NaN/Infinity tokens.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from lingbot_depth_ros.surfaces.config import SurfaceConfig
from lingbot_depth_ros.surfaces.detect import KINDS, SurfaceReport

SCHEMA_NAME = "lingbot_depth_ros/surfaces"
SCHEMA_VERSION = 1

_VEC3 = {"type": "array", "minItems": 3, "items": {"type": "number"}}
_SURFACE = {
    "type": "object",
    "required": ["id", "kind", "horizontal", "normal", "offset_m", "tilt_deg", "height_m", "centroid", "area_m2",
                 "extent", "free_square", "n_points", "rms_m", "curvature_per_m"],
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "kind": {"enum": list(KINDS)},
        "horizontal": {"type": "boolean"},
        "normal": _VEC3, "offset_m": {"type": "number"},
        "tilt_deg": {"type": "number", "minimum": 0, "maximum": 90},
        "height_m": {"type": ["number", "null"]},
        "centroid": _VEC3,
        "area_m2": {"type": "number", "minimum": 0},
        "extent": {"type": "object",
                   "required": ["center", "axis_length", "axis_width", "length_m", "width_m", "corners"],
                   "properties": {"center": _VEC3, "axis_length": _VEC3, "axis_width": _VEC3,
                                  "length_m": {"type": "number", "minimum": 0},
                                  "width_m": {"type": "number", "minimum": 0},
                                  "corners": {"type": "array", "minItems": 4, "items": _VEC3}}},
        "free_square": {"type": ["object", "null"], "required": ["side_m", "center"],
                        "properties": {"side_m": {"type": "number", "minimum": 0}, "center": _VEC3}},
        "n_points": {"type": "integer", "minimum": 0},
        "rms_m": {"type": "number", "minimum": 0},
        "curvature_per_m": {"type": "number", "minimum": 0},
    },
}
SURFACES_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lingbot_depth_ros surfaces report",
    "type": "object",
    "required": ["schema", "version", "stamp", "frame_id", "floor_z_m", "floor_source", "parameters", "surfaces"],
    "properties": {
        "schema": {"const": SCHEMA_NAME},
        "version": {"const": SCHEMA_VERSION},
        "stamp": {"type": "object", "required": ["sec", "nanosec"],
                  "properties": {"sec": {"type": "integer"},
                                 "nanosec": {"type": "integer", "minimum": 0, "maximum": 999999999}}},
        "frame_id": {"type": "string"},
        "floor_z_m": {"type": ["number", "null"]},
        "floor_source": {"enum": ["given", "estimated", "none"]},
        "parameters": {"type": "object", "required": ["max_tilt_deg", "clearance_m", "min_area_m2"],
                       "properties": {"max_tilt_deg": {"type": "number", "minimum": 0},
                                      "clearance_m": {"type": "number", "minimum": 0},
                                      "min_area_m2": {"type": "number", "minimum": 0}}},
        "surfaces": {"type": "array", "items": _SURFACE},
    },
}


def _num(value: float, digits: int = 4) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {value} in a surface")
    return round(value, digits)


def _vec(values: np.ndarray, digits: int = 4) -> list[float]:
    return [_num(v, digits) for v in np.asarray(values).ravel()]


def report_to_dict(report: SurfaceReport, config: SurfaceConfig, *, stamp_sec: int = 0, stamp_nanosec: int = 0,
                   frame_id: str = "base_link") -> dict[str, Any]:
    """The report as a plain dict following :data:`SURFACES_JSON_SCHEMA` (metres, degrees)."""
    surfaces = []
    for i, s in enumerate(report.surfaces):
        e = s.extent
        free = None if e.free_center is None else {"side_m": _num(e.free_side_m), "center": _vec(e.free_center)}
        surfaces.append({
            "id": i, "kind": s.kind, "horizontal": bool(s.horizontal), "normal": _vec(s.normal, 6),
            "offset_m": _num(s.offset_m), "tilt_deg": _num(s.tilt_deg, 3),
            "height_m": None if s.height_m is None else _num(s.height_m), "centroid": _vec(s.centroid),
            "area_m2": _num(e.area_m2), "extent": {
                "center": _vec(e.center), "axis_length": _vec(e.axes[0], 6), "axis_width": _vec(e.axes[1], 6),
                "length_m": _num(e.size_m[0]), "width_m": _num(e.size_m[1]),
                "corners": [_vec(c) for c in e.corners]},
            "free_square": free, "n_points": int(s.n_points), "rms_m": _num(s.rms_m, 5),
            "curvature_per_m": _num(s.curvature_per_m, 4)})
    return {
        "schema": SCHEMA_NAME, "version": SCHEMA_VERSION,
        "stamp": {"sec": int(stamp_sec), "nanosec": int(stamp_nanosec)},
        "frame_id": str(frame_id),
        "floor_z_m": None if report.floor_z_m is None else _num(report.floor_z_m),
        "floor_source": report.floor_source,
        "parameters": {"max_tilt_deg": config.max_tilt_deg, "clearance_m": config.clearance_m,
                       "min_area_m2": config.min_area_m2},
        "surfaces": surfaces,
    }


def report_to_json(report: SurfaceReport, config: SurfaceConfig, *, stamp_sec: int = 0, stamp_nanosec: int = 0,
                   frame_id: str = "base_link") -> str:
    """Compact strict JSON text of :func:`report_to_dict`."""
    return json.dumps(report_to_dict(report, config, stamp_sec=stamp_sec, stamp_nanosec=stamp_nanosec,
                                     frame_id=frame_id), allow_nan=False, separators=(",", ":"))


_TYPES = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
          "string": lambda v: isinstance(v, str), "null": lambda v: v is None,
          "boolean": lambda v: isinstance(v, bool),
          "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}


def schema_errors(document: Any, schema: dict[str, Any] = SURFACES_JSON_SCHEMA, path: str = "$") -> list[str]:
    """Violations of ``schema`` (default :data:`SURFACES_JSON_SCHEMA`) by ``document``, for the JSON Schema
    subset used here (type, const, enum, required, properties, items, minItems, minimum, maximum); empty =
    valid. Lets consumers without the ``jsonschema`` package validate messages."""
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
        for i, item in enumerate(document):
            if "items" in schema:
                errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    return errors


def main() -> None:
    """``python -m lingbot_depth_ros.surfaces.report_json --write``: regenerate docs/surfaces.schema.json."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write", action="store_true", help="write docs/surfaces.schema.json (else print)")
    text = json.dumps(SURFACES_JSON_SCHEMA, indent=2) + "\n"
    if parser.parse_args().write:
        (Path(__file__).resolve().parents[2] / "docs" / "surfaces.schema.json").write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()

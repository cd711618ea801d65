"""The machine-readable obstacle report (``obstacles/recommendation``, std_msgs/String carrying JSON).

Schema (version 1), also available as the JSON Schema :data:`REPORT_JSON_SCHEMA`::

    {
      "schema": "lingbot_depth_ros/obstacle_sectors",
      "version": 1,
      "stamp": {"sec": 1700000000, "nanosec": 500000000},   # stamp of the depth image analysed
      "frame_id": "base_link",                               # frame of every angle and distance
      "recommendation": "forward" | "turn_left" | "turn_right" | "stop",
      "target_sector": "center" | null,                      # sector the recommendation heads for
      "thresholds": {"blocked_m": 0.5, "caution_m": 1.0, "hysteresis_m": 0.1},
      "sectors": [                                           # left to right
        {"name": "left", "angle_min": 0.26, "angle_max": 0.79,   # bearings [rad], 0 = forward, + = left
         "distance_m": 1.57 | null,    # robust nearest obstacle (horizontal) [m]; null = no obstacle seen
         "status": "clear" | "caution" | "blocked" | "unknown",   # after hysteresis
         "n_points": 4414,             # obstacle points (after decimation) in the sector
         "visible_m": 2.0 | null,      # how far the sector is seen (90th percentile distance) [m]
         "coverage": 1.0 | null}       # fraction of pixels expected to see the floor that returned depth
      ]
    }

Non-finite numbers never appear (JSON has none): "no obstacle" is ``null``. Consumers must treat
``unknown`` like ``blocked``.
"""

from __future__ import annotations

import math
from typing import Any

from lingbot_depth_ros import json_reports
from lingbot_depth_ros.navigation.sectors import RECOMMENDATIONS, STATUSES, SectorConfig, SectorReport

SCHEMA_NAME = "lingbot_depth_ros/obstacle_sectors"
SCHEMA_VERSION = 1

_NUMBER_OR_NULL = {"type": ["number", "null"]}
REPORT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lingbot_depth_ros obstacle sectors report",
    "type": "object",
    "required": ["schema", "version", "stamp", "frame_id", "recommendation", "target_sector", "thresholds",
                 "sectors"],
    "properties": {
        "schema": {"const": SCHEMA_NAME},
        "version": {"const": SCHEMA_VERSION},
        "stamp": json_reports.STAMP_SCHEMA,
        "frame_id": {"type": "string"},
        "recommendation": {"enum": list(RECOMMENDATIONS)},
        "target_sector": {"type": ["string", "null"]},
        "thresholds": {"type": "object", "required": ["blocked_m", "caution_m", "hysteresis_m"],
                       "properties": {"blocked_m": {"type": "number", "minimum": 0},
                                      "caution_m": {"type": "number", "minimum": 0},
                                      "hysteresis_m": {"type": "number", "minimum": 0}}},
        "sectors": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["name", "angle_min", "angle_max", "distance_m", "status", "n_points", "visible_m",
                         "coverage"],
            "properties": {"name": {"type": "string"},
                           "angle_min": {"type": "number"},
                           "angle_max": {"type": "number"},
                           "distance_m": {"type": ["number", "null"], "minimum": 0},
                           "status": {"enum": list(STATUSES)},
                           "n_points": {"type": "integer", "minimum": 0},
                           "visible_m": _NUMBER_OR_NULL,
                           "coverage": {"type": ["number", "null"], "minimum": 0, "maximum": 1}}}},
    },
}


def _number(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def report_to_dict(report: SectorReport, config: SectorConfig, *, stamp_sec: int, stamp_nanosec: int,
                   frame_id: str) -> dict[str, Any]:
    """The report as a plain dict following :data:`REPORT_JSON_SCHEMA` (angles [rad], distances [m])."""
    target = None if report.target_sector is None else report.sectors[report.target_sector].name
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "stamp": {"sec": int(stamp_sec), "nanosec": int(stamp_nanosec)},
        "frame_id": str(frame_id),
        "recommendation": report.recommendation,
        "target_sector": target,
        "thresholds": {"blocked_m": config.blocked_distance_m, "caution_m": config.caution_distance_m,
                       "hysteresis_m": config.hysteresis_m},
        "sectors": [{"name": s.name, "angle_min": _number(s.angle_min, 6), "angle_max": _number(s.angle_max, 6),
                     "distance_m": _number(s.distance_m), "status": s.status, "n_points": int(s.n_points),
                     "visible_m": _number(s.visible_m), "coverage": _number(s.coverage)}
                    for s in report.sectors],
    }


def report_to_json(report: SectorReport, config: SectorConfig, *, stamp_sec: int, stamp_nanosec: int,
                   frame_id: str) -> str:
    """Compact JSON text of :func:`report_to_dict` (no NaN/Infinity tokens: strict JSON)."""
    return json_reports.dumps_strict(report_to_dict(report, config, stamp_sec=stamp_sec,
                                                    stamp_nanosec=stamp_nanosec, frame_id=frame_id))


def schema_errors(document: Any, schema: dict[str, Any] = REPORT_JSON_SCHEMA, path: str = "$") -> list[str]:
    """Violations of ``schema`` (default :data:`REPORT_JSON_SCHEMA`) by ``document``; empty = valid.
    Checked with the ``jsonschema`` package (:func:`lingbot_depth_ros.json_reports.schema_errors`)."""
    return json_reports.schema_errors(document, schema, path)

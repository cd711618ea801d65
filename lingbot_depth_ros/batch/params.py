"""The node's parameters for offline runs: ``--param name=value`` parsed and checked with the node's own
table (:mod:`lingbot_depth_ros.params.node`, no rclpy); :meth:`OutputSettings.from_params
<lingbot_depth_ros.pipeline.depth_pipeline.OutputSettings.from_params>` builds the node's output settings from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.params.node import ALL_PARAMS, PARAMS_BY_NAME, check_consistency

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_value(name: str, text: str) -> Any:
    """``text`` as the type of parameter ``name`` (bool: true/false, int, double, string).

    Raises:
        ConfigError: unknown parameter or a value that is not of its type.
    """
    spec = PARAMS_BY_NAME.get(name)
    if spec is None:
        raise ConfigError(f"unknown node parameter '{name}' (see the README parameter table)")
    kind = type(spec.default)
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(text)
            return lowered in _TRUE
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is list:  # string array: "[a, b]" or "a,b"
            return [item.strip().strip("'\"") for item in text.strip().strip("[]").split(",") if item.strip()]
        return text
    except ValueError:
        raise ConfigError(f"{name} must be a {spec.type_name}, got '{text}'") from None


def node_values(assignments: Sequence[str] = (), overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every node parameter value: defaults, then ``name=value`` ``assignments``, then ``overrides``; checked
    like the node checks them at start-up (ranges, choices, cross-parameter rules).

    Raises:
        ConfigError: a malformed assignment, unknown name, wrong type or value out of range.
    """
    values: dict[str, Any] = {spec.name: spec.default for spec in ALL_PARAMS}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--param takes name=value, got '{item}'")
        values[name.strip()] = parse_value(name.strip(), text)
    for name, value in (overrides or {}).items():
        if name not in PARAMS_BY_NAME:
            raise ConfigError(f"unknown node parameter '{name}' (see the README parameter table)")
        values[name] = value
    for spec in ALL_PARAMS:
        if isinstance(spec.default, float) and isinstance(values[spec.name], int) \
                and not isinstance(values[spec.name], bool):
            values[spec.name] = float(values[spec.name])
        reason = spec.check(values[spec.name])
        if reason:
            raise ConfigError(reason)
    reason = check_consistency(values)
    if reason:
        raise ConfigError(reason)
    return values

"""The parameter-spec record shared by every parameter table (no rclpy)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParamSpec:
    """One parameter. ``min``/``max`` bound numbers (inclusive); ``choices`` bound strings."""

    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False  # changing it needs a restart (topics, QoS, estimator construction)
    none_value: Any = None  # this value of the parameter means "None" (auto/unlimited) for the estimator

    @property
    def type_name(self) -> str:
        return {bool: "bool", int: "int", float: "double", str: "string", list: "string[]"}[type(self.default)]

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is list and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return None  # string array (its element rules live in check_consistency)
        if type(value) is not expected:
            return f"{self.name} must be a {self.type_name}, got {type(value).__name__} {value!r}"
        if expected is float and not math.isfinite(value) and not (self.max == math.inf and value == math.inf):
            return f"{self.name} must be finite, got {value}"
        if self.min is not None and value < self.min:
            return f"{self.name}={value} is below its minimum {self.min}"
        if self.max is not None and value > self.max:
            return f"{self.name}={value} is above its maximum {self.max}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name}='{value}' is not one of: {', '.join(self.choices)}"
        return None

    def range_text(self) -> str:
        if self.choices:
            return " \\| ".join(self.choices)
        if self.min is not None or self.max is not None:
            lo = "" if self.min is None else f"{self.min:g}"
            hi = "" if self.max is None else f"{self.max:g}"
            return f"[{lo}, {hi}]"
        return "—"

"""Confidence-gated outputs (issue 20 §2): the depth a consumer gets with the pixels below a minimum confidence
removed (NaN), so that the cloud leaves them out, the scan reports them as unknown (NaN, REP 117) and a sector
that only they cover is "unknown", never "clear" (``navigation/sectors.py``: no valid pixels = not observed).

A minimum of 0 gates nothing: the output is then exactly the ungated depth (the default of every gate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


def gate_depth(depth_m: np.ndarray, confidence: np.ndarray | None, min_confidence: float) -> np.ndarray:
    """(H, W) float32 ``depth_m`` with NaN where ``confidence`` is below ``min_confidence`` (or NaN).

    Args:
        depth_m: (H, W) float32 depth [m], NaN invalid.
        confidence: (H, W) float32 confidence 0..1 (NaN where the depth is NaN), or None (nothing gated).
        min_confidence: 0..1; 0 = no gate (``depth_m`` itself is returned, not a copy).
    """
    if confidence is None or min_confidence <= 0.0:
        return depth_m
    with np.errstate(invalid="ignore"):
        keep = confidence >= np.float32(min_confidence)  # NaN compares False: removed
    return np.where(keep, depth_m, np.float32(np.nan)).astype(np.float32)


@dataclass(frozen=True)
class ObstacleGates:
    """The minimum confidence of the pixels the obstacle outputs use: ``scan_min`` for obstacles/scan,
    ``sectors_min`` for the sectors (obstacles/recommendation, markers); 0 = no gate."""

    scan_min: float = 0.0
    sectors_min: float = 0.0

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> ObstacleGates:
        """From the node's ``confidence.scan_min`` / ``confidence.sectors_min`` (no gate while
        ``confidence.enabled`` is false: there is no confidence to gate on)."""
        if not values["confidence.enabled"]:
            return cls()
        return cls(float(values["confidence.scan_min"]), float(values["confidence.sectors_min"]))


#: no gate on either obstacle output
NO_GATES = ObstacleGates()

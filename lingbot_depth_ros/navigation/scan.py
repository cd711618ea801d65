"""LaserScan ranges (numpy only) from the obstacle-sector analysis.

The scan lives in the robot base frame (the analysis frame: origin on the base z axis, x forward, y left,
z up), so its ``frame_id`` is the base frame and no extra TF is needed. Rays are ordered by increasing
angle (right to left), angle 0 = forward, positive = left, as ``sensor_msgs/LaserScan`` requires.

Range values follow REP 117:

- finite, in [range_min, range_max]: the robust nearest obstacle in the ray's bin [m] (horizontal distance);
- ``+inf``: the bin was observed (enough valid depth, see :mod:`.sectors`) and seen at least
  ``caution_distance_m`` far with no obstacle inside max_range_m (Nav2 uses it for clearing only with
  ``inf_is_valid: true``);
- ``NaN``: unknown: too few valid points, or too few pixels returned depth (never "free").

``-inf`` (too close) is never produced: points closer than ``min_range_m`` are filtered out as the robot's
own body, and ``range_min`` is set to ``min_range_m``.

Two layouts: :func:`sector_scan` (one ray per sector, at the sector centre) and :func:`dense_scan` (one ray
per equal angular bin, like depthimage_to_laserscan's column bands; use it for costmaps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.navigation.sectors import CLEAR, GroundPoints, SectorConfig, SectorReport, bin_statistics


@dataclass(frozen=True)
class ScanRanges:
    """Contents of a LaserScan: angles [rad] of the first/last ray and step, range limits [m], and
    ``ranges``: (n,) float32 [m] ordered by increasing angle."""

    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float
    ranges: np.ndarray


def _layout(span_min: float, span_max: float, n: int) -> tuple[float, float, float]:
    width = (span_max - span_min) / n
    first = span_min + 0.5 * width
    return first, first + (n - 1) * width, width


def sector_scan(report: SectorReport, config: SectorConfig) -> ScanRanges:
    """One ray per sector (at its centre angle), from this frame's raw measurements (not the hysteresis)."""
    n = len(report.sectors)
    ranges = np.empty(n, dtype=np.float32)
    for sector in report.sectors:
        ray = n - 1 - sector.index  # sectors are left to right, rays right to left
        if sector.distance_m is not None:
            ranges[ray] = sector.distance_m
        else:
            ranges[ray] = math.inf if sector.raw_status == CLEAR else math.nan
    first, last, step = _layout(report.ground.span_min_rad, report.ground.span_max_rad, n)
    return ScanRanges(angle_min=first, angle_max=last, angle_increment=step, range_min=config.min_range_m,
                      range_max=config.max_range_m, ranges=ranges)


def dense_scan(ground: GroundPoints, config: SectorConfig, num_rays: int, min_points: int = 3) -> ScanRanges:
    """``num_rays`` rays over the field of view; each needs ``min_points`` obstacle points to report one."""
    if not 1 <= num_rays <= 4096:
        raise ConfigError(f"num_rays must be in [1, 4096], got {num_rays}")
    if min_points < 1:
        raise ConfigError(f"min_points must be >= 1, got {min_points}")
    stats = bin_statistics(ground, num_rays, config, min_points)
    seen_far = stats.observed & (np.nan_to_num(stats.visible_m, nan=-1.0)
                                 >= min(config.caution_distance_m, config.max_range_m))
    ranges = np.where(~np.isnan(stats.obstacle_distance_m), stats.obstacle_distance_m,
                      np.where(seen_far, np.inf, np.nan)).astype(np.float32)
    first, last, step = _layout(ground.span_min_rad, ground.span_max_rad, num_rays)
    return ScanRanges(angle_min=first, angle_max=last, angle_increment=step, range_min=config.min_range_m,
                      range_max=config.max_range_m, ranges=ranges)

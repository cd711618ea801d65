"""What moves in the procedural scene besides the camera (for measuring temporal filtering, issue 21).

- :class:`MovingBox`: an axis-aligned box moving at constant velocity through the room; the generator renders it
  into every frame's RGB, ground-truth depth and LiDAR scan at the frame's time, so its depth is exact per frame.
  :func:`crossing_box` builds one that crosses the camera's view from left to right.
- :func:`trajectory_index`: a static camera segment, the camera standing still for a number of frames.

The LiDAR's scan-phase drift (a spinning sensor is not frame-locked to the camera) is
:attr:`~lingbot_depth_ros.synthetic.lidar.LidarConfig.scan_phase_drift_deg`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.synthetic.raycast import Box


@dataclass(frozen=True)
class MovingBox:
    """A box moving at constant velocity: corners ``lo`` / ``hi`` [m] (world frame) at time 0 (frame 0),
    ``velocity_mps`` (3,) [m/s] in the world frame, ``color`` RGB 0..1. The camera and the LiDAR must never be
    inside it (rendering then raises :class:`~lingbot_depth_ros.errors.InputError`)."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    velocity_mps: tuple[float, float, float]
    color: tuple[float, float, float] = (0.85, 0.2, 0.15)

    def __post_init__(self) -> None:
        Box(self.lo, self.hi, self.color)   # same checks as a static box
        if len(self.velocity_mps) != 3 or not np.isfinite(self.velocity_mps).all():
            raise InputError(f"moving box velocity must be 3 finite numbers [m/s], got {self.velocity_mps}")

    def at(self, time_s: float) -> Box:
        """The box at ``time_s`` [s] after frame 0."""
        shift = np.asarray(self.velocity_mps, dtype=np.float64) * float(time_s)
        lo = tuple(float(a + d) for a, d in zip(self.lo, shift))
        hi = tuple(float(a + d) for a, d in zip(self.hi, shift))
        return Box(lo=(lo[0], lo[1], lo[2]), hi=(hi[0], hi[1], hi[2]), color=self.color)


def crossing_box(speed_mps: float, *, distance_m: float = 3.5, start_y_m: float = 2.0, size_m: float = 0.6,
                 height_m: float = 1.5, color: tuple[float, float, float] = (0.85, 0.2, 0.15)) -> MovingBox:
    """A box crossing the view of a camera near the trajectory's start (world x ~ 0, looking along +x) from left
    to right: its near face at x = ``distance_m`` [m], its right side at y = ``start_y_m`` [m] at time 0 (the
    left of the room: by default it comes out of the left wall), moving towards -y (right) at ``speed_mps``
    [m/s]; ``size_m`` [m] wide and deep, ``height_m`` [m] high, standing on the floor.

    Raises:
        InputError: ``speed_mps`` <= 0 or a size <= 0.
    """
    if not (speed_mps > 0 and size_m > 0 and height_m > 0 and distance_m > 0):
        raise InputError(f"crossing box needs speed, distance and sizes > 0, got speed {speed_mps} m/s, "
                         f"distance {distance_m} m, size {size_m} m, height {height_m} m")
    return MovingBox(lo=(distance_m, start_y_m, 0.0), hi=(distance_m + size_m, start_y_m + size_m, height_m),
                     velocity_mps=(0.0, -float(speed_mps), 0.0), color=color)


def trajectory_index(index: int, static_segment: tuple[int, int] | None) -> int:
    """The trajectory position of frame ``index`` when the camera stands still for ``static_segment`` =
    (first frame, number of frames): frames first .. first + n - 1 share frame ``first``'s pose and the
    trajectory goes on from there afterwards (frame first + n is where first + 1 would have been)."""
    if static_segment is None:
        return index
    first, frames = static_segment
    if index < first:
        return index
    return max(first, index - frames + 1)


def check_static_segment(static_segment: tuple[int, int] | None) -> tuple[int, int] | None:
    """``static_segment`` as two ints, or None; raises :class:`InputError` unless first >= 0 and frames >= 1."""
    if static_segment is None:
        return None
    if len(static_segment) != 2:
        raise InputError(f"static_segment must be (first frame, number of frames), got {static_segment}")
    first, frames = int(static_segment[0]), int(static_segment[1])
    if first < 0 or frames < 1:
        raise InputError(f"static_segment needs first frame >= 0 and at least 1 frame, got {static_segment}")
    return first, frames


__all__ = ["MovingBox", "check_static_segment", "crossing_box", "trajectory_index"]

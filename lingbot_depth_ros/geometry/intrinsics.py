"""Pinhole camera intrinsics (REP 104 / OpenCV convention: pixel centres at integer coordinates)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels.

    ``fx``, ``fy``: focal lengths [px]; ``cx``, ``cy``: principal point [px], measured with the
    centre of the top-left pixel at (0, 0) as in sensor_msgs/CameraInfo ``K``.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(float(v)) for v in values):
            raise InputError(f"intrinsics must be finite, got fx={self.fx} fy={self.fy} cx={self.cx} cy={self.cy}")
        if self.fx <= 0 or self.fy <= 0:
            raise InputError(f"focal lengths must be > 0, got fx={self.fx} fy={self.fy}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise InputError(f"image size must be > 0, got {self.width}x{self.height}")

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> "CameraIntrinsics":
        """Build from a 3x3 camera matrix (or the 9-element row-major ``CameraInfo.k``)."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        return cls(fx=float(k[0, 0]), fy=float(k[1, 1]), cx=float(k[0, 2]), cy=float(k[1, 2]),
                   width=int(width), height=int(height))

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K, float64."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> "CameraIntrinsics":
        """Intrinsics of the same camera after resizing the image to ``width`` x ``height``.

        Uses the pixel-centre convention of ``cv2.resize``/``F.interpolate(align_corners=False)``:
        ``c' = (c + 0.5) * s - 0.5``.
        """
        sx = width / self.width
        sy = height / self.height
        return CameraIntrinsics(fx=self.fx * sx, fy=self.fy * sy,
                                cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5,
                                width=int(width), height=int(height))

    def normalized(self) -> np.ndarray:
        """3x3 K divided by image size (fx/W, fy/H, cx/W, cy/H), the form LingBot-Depth expects."""
        return np.array([[self.fx / self.width, 0.0, self.cx / self.width],
                         [0.0, self.fy / self.height, self.cy / self.height],
                         [0.0, 0.0, 1.0]])

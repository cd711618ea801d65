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
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> CameraIntrinsics:
        """Build from a 3x3 camera matrix (or the 9-element row-major ``CameraInfo.k``)."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        return cls(fx=float(k[0, 0]), fy=float(k[1, 1]), cx=float(k[0, 2]), cy=float(k[1, 2]),
                   width=int(width), height=int(height))

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K, float64."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> CameraIntrinsics:
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


@dataclass(frozen=True)
class SensorWindow:
    """How an image relates to its full-resolution calibration (sensor_msgs/CameraInfo ``binning_*``, ``roi``).

    ``x_offset``, ``y_offset``, ``width``, ``height``: the region of interest in full-resolution pixels
    (all zero = the full image); ``binning_x``/``binning_y``: pixels combined per output pixel (0 = 1).
    """

    binning_x: int = 1
    binning_y: int = 1
    x_offset: int = 0
    y_offset: int = 0
    width: int = 0
    height: int = 0

    @property
    def is_identity(self) -> bool:
        return max(self.binning_x, 1) == 1 and max(self.binning_y, 1) == 1 and self.x_offset == 0 and \
            self.y_offset == 0

    def image_size(self, full_width: int, full_height: int) -> tuple[int, int]:
        """(width, height) of the image this window produces from a ``full_width`` x ``full_height`` camera:
        the ROI size (the full size when the ROI is all zero) divided by the binning (integer division),
        as image_geometry's ``PinholeCameraModel::reducedResolution`` (raw ROI)."""
        roi_w, roi_h = self.width, self.height
        if (self.x_offset, self.y_offset, roi_w, roi_h) == (0, 0, 0, 0):
            roi_w, roi_h = full_width, full_height
        return roi_w // max(self.binning_x, 1), roi_h // max(self.binning_y, 1)


def reduce_camera_matrix(matrix: np.ndarray, window: SensorWindow) -> np.ndarray:
    """3x3 K or 3x4 P of the full-resolution camera -> the matrix of the binned / cropped image.

    image_geometry's ``PinholeCameraModel`` semantics: the principal point moves by the ROI offset
    (full-resolution pixels) first, then fx, cx (and P's Tx) are divided by ``binning_x``, fy, cy (Ty) by
    ``binning_y``. (This keeps the ecosystem's convention ``c' = c / b``; the exact pixel-centre mapping of
    an averaging binning would be ``(c + 0.5) / b - 0.5``, a quarter pixel apart at b = 2.)

    Returns a new float64 array of the same shape.
    """
    m = np.array(matrix, dtype=np.float64)
    if m.shape not in ((3, 3), (3, 4)):
        raise InputError(f"camera matrix must be 3x3 or 3x4, got shape {m.shape}")
    m[0, 2] -= window.x_offset
    m[1, 2] -= window.y_offset
    _, cols = m.shape
    translation = (3,) if cols == 4 else ()
    m[0, (0, 2) + translation] /= max(window.binning_x, 1)  # fx, cx (, Tx)
    m[1, (1, 2) + translation] /= max(window.binning_y, 1)  # fy, cy (, Ty)
    return m

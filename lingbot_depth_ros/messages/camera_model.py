"""sensor_msgs/CameraInfo -> the geometry of one image, the REP 104 way, for CameraInfo of any origin (no rclpy).

The one camera model of the package: the node (``depth/camera_info``, cloud, LiDAR projection), ``lingbot-depth
batch`` (frames, output bags, LiDAR bags), the bag readers (``-eval``, ``fuse``) and the fusion node all turn a
CameraInfo into intrinsics here. Only the message's fields are read, so rclpy and rosbags messages both work.

- Which matrix: a rectified image (``camera.rectified``) is described by P (fx' = P[0], fy' = P[5],
  cx' = P[2], cy' = P[6]); a raw image by K. A P of all zeros (some drivers) falls back to K.
  P's Tx / Ty (P[3], P[7]) place a stereo camera relative to the reference camera of the pair: they
  matter only when projecting points expressed in *that* camera's frame. The depth image is stamped
  with this camera's own optical frame, so back-projecting it (cloud, obstacles) ignores them, and so
  does the LiDAR projection (the LiDAR points are transformed into this camera's frame first).
- Binning and ROI: the image may be a binned and/or cropped view of the calibrated camera (CameraInfo
  ``binning_x/y``, ``roi``). K and P are adjusted as image_geometry's ``PinholeCameraModel`` does
  (see :func:`lingbot_depth_ros.geometry.intrinsics.reduce_camera_matrix`).
- The output camera info (:class:`CameraInfoFields`, published as ``depth/camera_info`` by the node and written
  to output bags by batch) describes the depth image on its own: width/height of the image, binning 0 and ROI
  all zero, K and P already adjusted, and P's left 3x3 equal to the matrix the cloud used (for a raw image P is
  rewritten to [K | 0], which is what the cloud assumed: an ideal pinhole with K). So
  ``u = P[0] * x / z + P[2]`` reprojects every cloud point onto its depth pixel, for image_geometry users and
  for tools that read P directly alike. D and R are carried over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics, SensorWindow, reduce_camera_matrix

MATRIX_P = "P (rectified)"
MATRIX_K = "K"
MATRIX_K_NO_P = "K (rectified, but P is all zero)"


class RegionOfInterestMessage(Protocol):
    @property
    def x_offset(self) -> int: ...
    @property
    def y_offset(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


class CameraInfoMessage(Protocol):
    """The fields of sensor_msgs/CameraInfo that are read (rclpy and rosbags messages have them)."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def distortion_model(self) -> str: ...
    @property
    def d(self) -> Any: ...
    @property
    def k(self) -> Any: ...
    @property
    def r(self) -> Any: ...
    @property
    def p(self) -> Any: ...
    @property
    def binning_x(self) -> int: ...
    @property
    def binning_y(self) -> int: ...
    @property
    def roi(self) -> RegionOfInterestMessage: ...


@dataclass(frozen=True)
class RegionOfInterest:
    """sensor_msgs/RegionOfInterest [full-resolution px]; all zero = the full image."""

    x_offset: int = 0
    y_offset: int = 0
    width: int = 0
    height: int = 0
    do_rectify: bool = False


@dataclass(frozen=True)
class CameraInfoFields:
    """A CameraInfo's content without its header, ROS-free: what an encoder turns into a message
    (``ros/camera_info.py`` for rclpy, ``bags/messages.py`` for bags).

    ``width``, ``height`` [px]; ``d``: distortion coefficients of ``distortion_model``; ``k`` (9), ``r`` (9),
    ``p`` (12): row-major matrices; ``binning_*`` 0 and the ROI all zero (the image described on its own). It has
    the fields of a CameraInfo message, so it is one for :func:`camera_geometry` too.
    """

    width: int
    height: int
    distortion_model: str
    d: tuple[float, ...]
    k: tuple[float, ...]
    r: tuple[float, ...]
    p: tuple[float, ...]
    binning_x: int = 0
    binning_y: int = 0
    roi: RegionOfInterest = RegionOfInterest()

    @classmethod
    def pinhole(cls, intrinsics: CameraIntrinsics) -> CameraInfoFields:
        """An ideal (rectified) camera: plumb_bob with zero distortion, K of ``intrinsics``, R = I, P = [K | 0]."""
        k = intrinsics.matrix()
        p = np.zeros((3, 4))
        p[:, :3] = k
        return cls(width=intrinsics.width, height=intrinsics.height, distortion_model="plumb_bob", d=(0.0,) * 5,
                   k=_floats(k), r=_floats(np.eye(3)), p=_floats(p))


@dataclass(frozen=True)
class CameraGeometry:
    """The geometry of one image: what the cloud/obstacles use and what ``depth/camera_info`` publishes.

    ``intrinsics``: pinhole model of the image [px]; ``matrix``: which CameraInfo matrix it came from
    (:data:`MATRIX_P`, :data:`MATRIX_K`, :data:`MATRIX_K_NO_P`); ``info``: the CameraInfo describing the image
    itself (binning/ROI folded into K and P); ``window``: the binning/ROI it had.
    """

    intrinsics: CameraIntrinsics
    matrix: str
    info: CameraInfoFields
    window: SensorWindow


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))


def sensor_window(info: CameraInfoMessage) -> SensorWindow:
    """The binning and ROI fields of ``info``."""
    roi = info.roi
    return SensorWindow(binning_x=int(info.binning_x), binning_y=int(info.binning_y), x_offset=int(roi.x_offset),
                        y_offset=int(roi.y_offset), width=int(roi.width), height=int(roi.height))


def _matrix(values: Any, size: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size != size:
        raise InputError(f"camera_info {name} has {array.size} elements, expected {size}")
    return array.reshape(3, size // 3)


def _check_focal(m: np.ndarray, name: str) -> None:
    fx, fy, cx, cy = m[0, 0], m[1, 1], m[0, 2], m[1, 2]
    if not np.all(np.isfinite(m)) or fx <= 0 or fy <= 0:
        raise InputError(f"camera_info has invalid intrinsics fx={fx:g} fy={fy:g} cx={cx:g} cy={cy:g} in {name} "
                         "(an uncalibrated camera publishes K = 0)")


def _check_size(info: CameraInfoMessage, window: SensorWindow, width: int, height: int) -> None:
    info_w, info_h = int(info.width), int(info.height)
    if (info_w, info_h) == (0, 0):
        return  # some drivers: taken to describe the image (before binning / ROI)
    if window.x_offset + window.width > info_w or window.y_offset + window.height > info_h:
        raise InputError(f"camera_info ROI {window.width}x{window.height}+{window.x_offset}+{window.y_offset} "
                         f"does not fit the {info_w}x{info_h} camera")
    expected = window.image_size(info_w, info_h)
    if expected != (width, height):
        plain = window.is_identity and window.width == 0 and window.height == 0
        detail = "" if plain else (f" (binning {max(window.binning_x, 1)}x{max(window.binning_y, 1)}, ROI "
                                   f"{window.width}x{window.height}+{window.x_offset}+{window.y_offset} "
                                   f"give {expected[0]}x{expected[1]})")
        raise InputError(f"camera_info is for {info_w}x{info_h}{detail} but the image is {width}x{height}")


def camera_geometry(info: CameraInfoMessage, width: int, height: int, rectified: bool) -> CameraGeometry:
    """Geometry of a ``width`` x ``height`` image from its CameraInfo (K, or P when ``rectified``), with the
    CameraInfo's binning and ROI applied.

    A CameraInfo with width/height 0 (some drivers) is taken to describe the image (before binning / ROI).

    Raises:
        InputError: K (or P when used) has a zero/negative/non-finite focal length, the ROI does not fit the
            camera, or the binned/cropped size is not the image's size.
    """
    k_full = _matrix(info.k, 9, "K")
    p_full = _matrix(info.p, 12, "P")
    window = sensor_window(info)
    _check_size(info, window, width, height)
    k = reduce_camera_matrix(k_full, window)
    _check_focal(k, "K")
    p = reduce_camera_matrix(p_full, window)
    p_is_zero = not np.any(p_full[:, :3])
    if rectified and not p_is_zero:
        _check_focal(p[:, :3], "P")
        used, matrix = p[:, :3], MATRIX_P
    else:
        used, matrix = k, MATRIX_K_NO_P if rectified else MATRIX_K
    if not rectified or p_is_zero:
        p = np.zeros((3, 4))
        p[:, :3] = k
    fields = CameraInfoFields(width=int(width), height=int(height), distortion_model=str(info.distortion_model),
                              d=_floats(info.d), k=_floats(k), r=_floats(info.r), p=_floats(p))
    return CameraGeometry(intrinsics=CameraIntrinsics.from_matrix(used, width, height), matrix=matrix, info=fields,
                          window=window)


def intrinsics_from_camera_info(info: CameraInfoMessage, width: int, height: int,
                                rectified: bool = False) -> CameraIntrinsics:
    """Intrinsics of a ``width`` x ``height`` image from its CameraInfo (see :func:`camera_geometry`)."""
    return camera_geometry(info, width, height, rectified).intrinsics

"""sensor_msgs/CameraInfo <-> CameraIntrinsics."""

from __future__ import annotations

import copy

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics


def intrinsics_from_camera_info(info: CameraInfo, width: int, height: int) -> CameraIntrinsics:
    """Intrinsics of an image of ``width`` x ``height`` from its CameraInfo.

    A CameraInfo with width/height 0 (some drivers) is taken to describe the image itself.

    Raises:
        InputError: K has a zero/negative/non-finite focal length or principal point, or the
            CameraInfo is for another resolution.
    """
    k = np.asarray(info.k, dtype=np.float64)
    if k.size != 9:
        raise InputError(f"camera_info K has {k.size} elements, expected 9")
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if not np.all(np.isfinite([fx, fy, cx, cy])) or fx <= 0 or fy <= 0:
        raise InputError(f"camera_info has invalid intrinsics fx={fx:g} fy={fy:g} cx={cx:g} cy={cy:g} "
                         "(an uncalibrated camera publishes K = 0)")
    info_w, info_h = int(info.width), int(info.height)
    if (info_w, info_h) != (0, 0) and (info_w, info_h) != (width, height):
        raise InputError(f"camera_info is for {info_w}x{info_h} but the image is {width}x{height}")
    return CameraIntrinsics(fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy), width=width, height=height)


def camera_info_for_output(info: CameraInfo, header: Header, intrinsics: CameraIntrinsics) -> CameraInfo:
    """CameraInfo describing an output image with ``intrinsics`` (its size and K), stamped ``header``.

    Distortion and rectification are carried over; P is rewritten consistently with K.
    """
    out = copy.deepcopy(info)
    out.header = header
    out.width, out.height = intrinsics.width, intrinsics.height
    k = intrinsics.matrix()
    out.k = k.reshape(-1).tolist()
    p = np.asarray(info.p, dtype=np.float64).reshape(3, 4).copy()
    p[:, :3] = k if not np.any(p[:, :3]) else _scaled_p(p[:, :3], info, intrinsics)
    out.p = p.reshape(-1).tolist()
    return out


def _scaled_p(p3: np.ndarray, info: CameraInfo, intrinsics: CameraIntrinsics) -> np.ndarray:
    if int(info.width) in (0, intrinsics.width) and int(info.height) in (0, intrinsics.height):
        return p3
    sx, sy = intrinsics.width / info.width, intrinsics.height / info.height
    p3 = p3.copy()
    p3[0, 0] *= sx
    p3[0, 2] = (p3[0, 2] + 0.5) * sx - 0.5
    p3[1, 1] *= sy
    p3[1, 2] = (p3[1, 2] + 0.5) * sy - 0.5
    return p3


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics, header: Header | None = None) -> CameraInfo:
    """A plumb_bob CameraInfo with zero distortion for ``intrinsics`` (rectified image)."""
    info = CameraInfo()
    if header is not None:
        info.header = header
    info.width, info.height = intrinsics.width, intrinsics.height
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    k = intrinsics.matrix()
    info.k = k.reshape(-1).tolist()
    info.r = np.eye(3).reshape(-1).tolist()
    p = np.zeros((3, 4))
    p[:, :3] = k
    info.p = p.reshape(-1).tolist()
    return info

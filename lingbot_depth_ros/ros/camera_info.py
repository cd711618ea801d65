"""CameraInfo fields -> sensor_msgs/CameraInfo (rclpy): the encoder of the one camera model.

The camera model (which matrix, binning, ROI, checks, the output camera info) is ROS-free and shared with the
offline tools: :mod:`lingbot_depth_ros.messages.camera_model`; this module re-exports what the node reads from it
and turns its :class:`~lingbot_depth_ros.messages.camera_model.CameraInfoFields` into messages.
"""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo, RegionOfInterest
from std_msgs.msg import Header

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.messages.camera_model import (  # noqa: F401 (re-exported)
    MATRIX_K,
    MATRIX_K_NO_P,
    MATRIX_P,
    CameraGeometry,
    CameraInfoFields,
    camera_geometry,
)


def camera_info_msg(fields: CameraInfoFields, header: Header | None = None) -> CameraInfo:
    """A CameraInfo with ``fields`` (binning 0, ROI all zero) and ``header`` (or an empty one)."""
    info = CameraInfo()
    if header is not None:
        info.header = header
    info.width, info.height = fields.width, fields.height
    info.distortion_model = fields.distortion_model
    info.d = list(fields.d)
    info.k = list(fields.k)
    info.r = list(fields.r)
    info.p = list(fields.p)
    info.binning_x, info.binning_y = fields.binning_x, fields.binning_y
    info.roi = RegionOfInterest()
    return info


def camera_info_for_output(geometry: CameraGeometry, header: Header) -> CameraInfo:
    """The CameraInfo of an output image with ``geometry`` (same size as the input image), stamped ``header``."""
    return camera_info_msg(geometry.info, header)


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics, header: Header | None = None) -> CameraInfo:
    """A plumb_bob CameraInfo with zero distortion for ``intrinsics`` (rectified image)."""
    return camera_info_msg(CameraInfoFields.pinhole(intrinsics), header)

"""The topic names of the evaluation streams: one type for bags and for replays. No rclpy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamTopics:
    """Topic names of the evaluation streams, in a bag and on the ROS graph.

    The defaults are the topics of a depth node started in namespace ``/camera``
    (``-r __ns:=/camera``): ``lingbot-depth-bag`` writes its bags with them and ``lingbot-depth-eval``
    sends to and reads from them, so a bag plays straight into such a node. ``depth_gt`` and
    ``tf_static`` are only read from bags; ``depth`` and ``points`` are the node's outputs. ``pose`` is the
    bag's camera pose (geometry_msgs/PoseStamped, scene bags); a replay sends it to ``camera_pose``, the node's
    pose input (``temporal.pose_source pose``: ``<namespace>/<temporal.pose_topic>``).
    """

    image: str = "/camera/image"
    camera_info: str = "/camera/camera_info"
    sparse_depth: str = "/camera/sparse_depth"
    lidar_points: str = "/camera/lidar_points"
    depth_gt: str = "/camera/depth_gt"
    tf_static: str = "/tf_static"
    tf: str = "/tf"
    pose: str = "/camera/pose"
    odom: str = "/camera/odom"
    camera_pose: str = "/camera/camera_pose"
    depth: str = "/camera/depth/image"
    points: str = "/camera/points"

    #: the node's inputs and outputs, the topics a replay remaps (never depth_gt or tf_static)
    NODE_ROLES = ("image", "camera_info", "sparse_depth", "lidar_points", "camera_pose", "depth", "points")

    def under(self, prefix: str) -> StreamTopics:
        """The node's topics moved under ``prefix`` (``/p/camera/image``...); ``depth_gt`` and
        ``tf_static`` unchanged."""
        prefix = "/" + prefix.strip("/")
        return dataclasses.replace(self, **{role: prefix + "/" + getattr(self, role).lstrip("/")
                                           for role in self.NODE_ROLES})

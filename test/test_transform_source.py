"""TransformSource.lookup, the tf2 path the node takes on a robot, against a stand-in tf2 buffer.

The stand-in behaves like tf2_ros.Buffer: ``lookup_transform(target, source, time)`` returns a
geometry_msgs/TransformStamped, time 0 means "latest", and failures raise LookupException (unknown frame),
ConnectivityException (frames in two trees) or ExtrapolationException (time outside the buffered range).
Where tf2_ros is installed its exception types are used; here (pip-only ROS) stand-ins of the same names.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rclpy
import rclpy.time
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node

from lingbot_depth_ros.geometry.transforms import RigidTransform
from lingbot_depth_ros.ros.obstacle_outputs import TransformSource, transform_msg_from_rigid

try:
    from tf2_ros import ConnectivityException, ExtrapolationException, LookupException
except ImportError:
    class TransformException(Exception):
        """Stand-in for tf2.TransformException."""

    class LookupException(TransformException):
        """Stand-in for tf2.LookupException."""

    class ConnectivityException(TransformException):
        """Stand-in for tf2.ConnectivityException."""

    class ExtrapolationException(TransformException):
        """Stand-in for tf2.ExtrapolationException."""

NS = 1_000_000_000


class StandInBuffer:
    """tf2_ros.Buffer look-alike: per (target, source) a list of (stamp_ns, TransformStamped)."""

    def __init__(self, disconnected: tuple[str, str] | None = None) -> None:
        self.frames: dict[tuple[str, str], list[tuple[int, TransformStamped]]] = {}
        self.disconnected = disconnected
        self.calls: list[tuple[str, str, int]] = []

    def set_transform(self, target: str, source: str, stamp_ns: int, transform: RigidTransform) -> None:
        msg = TransformStamped()
        msg.header.frame_id, msg.child_frame_id = target, source
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, NS)
        msg.transform = transform_msg_from_rigid(transform)
        self.frames.setdefault((target, source), []).append((stamp_ns, msg))

    def lookup_transform(self, target: str, source: str, time: rclpy.time.Time, timeout=None) -> TransformStamped:
        self.calls.append((target, source, time.nanoseconds))
        if (target, source) == self.disconnected:
            raise ConnectivityException(f"Could not find a connection between '{target}' and '{source}' because "
                                        "they are not part of the same tree")
        known = {f for pair in self.frames for f in pair}
        if target not in known or source not in known or (target, source) not in self.frames:
            raise LookupException(f'"{source}" passed to lookupTransform argument source_frame does not exist.')
        history = sorted(self.frames[(target, source)], key=lambda item: item[0])
        if time.nanoseconds == 0:
            return history[-1][1]
        if not history[0][0] <= time.nanoseconds <= history[-1][0]:
            raise ExtrapolationException(f"Lookup would require extrapolation into the future. Requested time "
                                         f"{time.nanoseconds / NS} but the latest data is at time "
                                         f"{history[-1][0] / NS}")
        return [msg for stamp, msg in history if stamp <= time.nanoseconds][-1]


@pytest.fixture(scope="module")
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    n = Node("transform_source_test", context=context)
    yield n
    n.destroy_node()
    rclpy.shutdown(context=context)


MOUNT_1 = RigidTransform.from_quaternion([0.0, 0.0, math.sin(0.25), math.cos(0.25)], translation=[0.2, 0.0, 0.5])
MOUNT_2 = RigidTransform.from_quaternion([0.0, math.sin(0.1), 0.0, math.cos(0.1)], translation=[0.3, -0.1, 0.6])
FALLBACK = RigidTransform.from_quaternion([0.0, 0.0, 0.0, 1.0], translation=[9.0, 9.0, 9.0])


def same(a: RigidTransform, b: RigidTransform) -> bool:
    return np.allclose(a.rotation, b.rotation, atol=1e-9) and np.allclose(a.translation, b.translation, atol=1e-9)


def buffer_with_history() -> StandInBuffer:
    buffer = StandInBuffer()
    buffer.set_transform("base_link", "camera_optical", 10 * NS, MOUNT_1)
    buffer.set_transform("base_link", "camera_optical", 20 * NS, MOUNT_2)
    return buffer


def test_lookup_at_the_stamp_returns_the_transform_of_that_time(node) -> None:
    buffer = buffer_with_history()
    source = TransformSource(node, use_tf=True, buffer=buffer)
    assert source.uses_tf
    found = source.lookup("base_link", "camera_optical", Time(sec=15), FALLBACK)
    assert found is not None and same(found, MOUNT_1)  # 15 s lies between the samples: the one valid then
    assert buffer.calls == [("base_link", "camera_optical", 15 * NS)]
    assert same(source.lookup("base_link", "camera_optical", Time(sec=20), FALLBACK), MOUNT_2)


def test_extrapolation_falls_back_to_the_latest_transform(node) -> None:
    buffer = buffer_with_history()
    source = TransformSource(node, use_tf=True, buffer=buffer)
    found = source.lookup("base_link", "camera_optical", Time(sec=25, nanosec=5), FALLBACK)
    assert found is not None and same(found, MOUNT_2)
    assert buffer.calls == [("base_link", "camera_optical", 25 * NS + 5), ("base_link", "camera_optical", 0)]
    assert "ExtrapolationException" in source.last_error


def test_unknown_frame_gives_none_not_the_parameters(node) -> None:
    source = TransformSource(node, use_tf=True, buffer=buffer_with_history())
    assert source.lookup("base_link", "lidar", Time(sec=15), FALLBACK) is None
    assert source.last_error.startswith("LookupException") and '"lidar"' in source.last_error


def test_frames_in_two_trees_give_none(node) -> None:
    buffer = buffer_with_history()
    buffer.disconnected = ("base_link", "camera_optical")
    source = TransformSource(node, use_tf=True, buffer=buffer)
    assert source.lookup("base_link", "camera_optical", Time(sec=15), FALLBACK) is None
    assert source.last_error.startswith("ConnectivityException")
    assert len(buffer.calls) == 2  # at the stamp, then the latest


def test_a_bug_in_the_buffer_is_not_mistaken_for_a_missing_transform(node) -> None:
    class BrokenBuffer:
        def lookup_transform(self, target, source, time, timeout=None):
            raise TypeError("lookup_transform() got an unexpected argument")

    source = TransformSource(node, use_tf=True, buffer=BrokenBuffer())
    with pytest.raises(TypeError):
        source.lookup("base_link", "camera_optical", Time(sec=1), FALLBACK)


def test_use_tf_off_ignores_the_buffer(node) -> None:
    buffer = buffer_with_history()
    source = TransformSource(node, use_tf=False, buffer=buffer)
    assert not source.uses_tf
    assert source.lookup("base_link", "camera_optical", Time(sec=15), FALLBACK) is FALLBACK
    assert buffer.calls == []

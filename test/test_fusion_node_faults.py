"""depth_fusion_node under bad input, over real rclpy topics.

* Frames with nothing to fuse (all NaN, all 0, all below fusion.min_depth_m, 16UC1 all 0xFFFF, all 1e30 m,
  1x1): the node in its own process drops each (counted ``empty_depth``, rate-limited warning), keeps
  running and fuses the good frame that follows; the counts in /diagnostics are exact.
* The last resort: an unexpected exception while fusing (counted ``internal_error``) or in a timer
  (``callback_errors``) is logged and the node goes on.
* Pose jumps (``fusion.max_pose_speed_m_s``): no interpolation across a 50 km jump, no frame fused across it,
  and fusion resumes from the new pose.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import NodeProcess, Recorder, spin_in_background, stop_spinning
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from waiting import repeat_until, wait_until

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image

pytestmark = pytest.mark.ros
pytest.importorskip("open3d", reason="the fusion extra (open3d) is not installed")

K = CameraIntrinsics(fx=80.0, fy=80.0, cx=39.5, cy=29.5, width=80, height=60)
WALL_M = 2.03
DROP_KEYS = ("no_camera_info", "bad_input", "no_pose", "pose_jump", "empty_depth", "internal_error")


def _header(stamp_ns: int, frame_id: str = "camera_optical_frame") -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return header


def _info(stamp_ns: int) -> CameraInfo:
    """CameraInfo of K with width/height 0: it then describes whatever size the image has (the 1x1 case)."""
    info = intrinsics_to_camera_info(K, _header(stamp_ns))
    info.width = info.height = 0
    return info


def _good(stamp_ns: int) -> Image:
    return depth_m_to_image(np.full((K.height, K.width), WALL_M, np.float32), _header(stamp_ns))


def _float_image(value: float, size: tuple[int, int] = (60, 80)) -> Any:
    return lambda stamp: depth_m_to_image(np.full(size, value, np.float32), _header(stamp))


#: depth frames with nothing to fuse (the node runs with fusion.min_depth_m 0.3, fusion.max_depth_m 5)
EMPTY_FRAMES = {
    "32FC1_all_nan": _float_image(float("nan")),
    "32FC1_all_zero": _float_image(0.0),
    "32FC1_all_below_min_depth": _float_image(0.2),
    "32FC1_all_1e30_m": _float_image(1e30),
    "32FC1_1x1": _float_image(2.0, (1, 1)),
    "16UC1_all_0xFFFF": lambda stamp: numpy_to_image(np.full((60, 80), 0xFFFF, np.uint16), "16UC1", _header(stamp)),
    "16UC1_all_zero": lambda stamp: numpy_to_image(np.zeros((60, 80), np.uint16), "16UC1", _header(stamp)),
}


# ------------------------------------------------------------------------------ node in its own process
@dataclass
class FusionProcess:
    """depth_fusion_node in a subprocess, and a feeder node in this one that records its /diagnostics."""

    node: NodeProcess
    name: str
    pub_depth: Any
    pub_info: Any
    diagnostics: Recorder
    stamp_ns: int = 1_700_000_000_000_000_000
    expected: dict[str, int] = field(default_factory=dict)

    def next_stamp(self) -> int:
        self.stamp_ns += 100_000_000
        return self.stamp_ns

    def publish(self, make_image: Any) -> None:
        stamp = self.next_stamp()
        self.pub_info.publish(_info(stamp))
        self.pub_depth.publish(make_image(stamp))

    def counts(self) -> dict[str, int]:
        """The counters of the newest fusion status on /diagnostics (empty before the first)."""
        for msg in reversed(self.diagnostics.messages):
            for status in msg.status:
                if status.name == f"{self.name}: fusion":
                    values = {kv.key: kv.value for kv in status.values}
                    keys = ["frames_integrated", "callback_errors"] + [f"frames_dropped_{k}" for k in DROP_KEYS]
                    return {key: int(values.get(key, "-1")) for key in keys}
        return {}

    def wait_counts(self, expected: dict[str, int], timeout: float = 20.0) -> None:
        self.diagnostics.wait(lambda _: self.counts() == expected, timeout)
        alive = "running" if self.node.proc.poll() is None else f"EXITED with {self.node.proc.returncode}"
        assert self.counts() == expected, (f"diagnostics {self.counts()} != {expected}; node {alive}; log:\n"
                                           f"{self.node.log()[-3000:]}")

    def empty_warnings(self) -> int:
        return len(re.findall(r"dropped \(empty_depth\)", self.node.log()))


class _FusionNodeProcess(NodeProcess):
    """NodeProcess runs the depth node's module: the same, with depth_fusion_node's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.args[self.args.index("lingbot_depth_ros.ros.depth_node")] = "lingbot_depth_ros.ros.fusion_node"


@pytest.fixture(scope="module")
def fusion_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FusionProcess]:
    name = f"fusion_faults_{os.getpid()}"
    namespace = f"/{name}"
    params = {"fusion.pose_source": "none", "fusion.integration_rate_hz": 0.0, "fusion.publish_rate_hz": 0.0,
              "fusion.voxel_size_m": 0.05, "fusion.min_depth_m": 0.3, "fusion.max_depth_m": 5.0}
    log = tmp_path_factory.mktemp("fusion_node") / "node.log"
    remaps = ["-r", f"__node:={name}", "-r", f"/diagnostics:={namespace}/diagnostics"]
    with _FusionNodeProcess(params=params, log_path=log, namespace=namespace, extra_args=remaps) as node:
        node.wait_ready()
        context = rclpy.Context()
        rclpy.init(context=context)
        feeder = rclpy.create_node(f"{name}_feeder", context=context)
        diagnostics = Recorder()
        feeder.create_subscription(DiagnosticArray, f"{namespace}/diagnostics", diagnostics, 10)
        proc = FusionProcess(node, name, feeder.create_publisher(Image, f"{namespace}/depth/image",
                                                                 qos_profile_sensor_data),
                             feeder.create_publisher(CameraInfo, f"{namespace}/depth/camera_info",
                                                     qos_profile_sensor_data), diagnostics)
        executor, thread = spin_in_background(context, feeder)
        try:
            # Good frames until one is fused (the first may race the subscriptions), then a status published
            # well after the last of them: every warm-up frame is counted in it.
            repeat_until(lambda: proc.publish(_good), lambda: proc.counts().get("frames_integrated", 0) >= 1, 60,
                         "the first good frame to be fused", period_s=1.5)
            settled_after = diagnostics.times[-1] + 1.5
            assert diagnostics.wait(lambda _: diagnostics.times[-1] > settled_after, 10)
            proc.expected = proc.counts()
            assert proc.expected["frames_integrated"] >= 1, proc.expected
            yield proc
        finally:
            stop_spinning(executor, thread, context, feeder)


@pytest.mark.parametrize("case", list(EMPTY_FRAMES))
def test_frame_with_nothing_to_fuse_is_dropped_and_counted_and_the_next_is_fused(fusion_process: FusionProcess,
                                                                               case: str) -> None:
    proc = fusion_process
    proc.publish(EMPTY_FRAMES[case])
    proc.publish(_good)
    proc.expected["frames_dropped_empty_depth"] += 1
    proc.expected["frames_integrated"] += 1
    proc.wait_counts(dict(proc.expected))
    assert proc.node.proc.poll() is None, proc.node.log()
    log = proc.node.log()
    assert "Traceback" not in log and "No block is touched" not in log, log
    assert proc.empty_warnings() >= 1 and "nothing to fuse" in log


def test_burst_of_empty_frames_logs_one_warning_per_two_seconds(fusion_process: FusionProcess) -> None:
    proc = fusion_process
    before = proc.empty_warnings()
    for _ in range(3):  # 3 + 1 frames: within the node's sensor-data queue (KEEP_LAST 5), none is lost
        proc.publish(EMPTY_FRAMES["32FC1_all_nan"])
    proc.publish(_good)
    proc.expected["frames_dropped_empty_depth"] += 3
    proc.expected["frames_integrated"] += 1
    proc.wait_counts(dict(proc.expected))
    assert proc.empty_warnings() - before <= 1, proc.node.log()
    # 2 s later (a status received after that) the next one is logged, with the ones held back
    quiet_until = proc.diagnostics.times[-1] + 2.1
    assert proc.diagnostics.wait(lambda _: proc.diagnostics.times[-1] > quiet_until, 10)
    proc.publish(EMPTY_FRAMES["32FC1_all_zero"])
    proc.expected["frames_dropped_empty_depth"] += 1
    proc.wait_counts(dict(proc.expected))
    wait_until(lambda: "similar suppressed" in proc.node.log(), 10, "the suppressed count in the next warning")
    assert proc.node.proc.poll() is None


# ------------------------------------------------------------------------------ node in this process
@dataclass
class InProcess:
    node: Any
    feeder: Any
    pubs: dict[str, Any]
    thread: Any
    namespace: str


@pytest.fixture
def in_process(request: pytest.FixtureRequest) -> Iterator[InProcess]:
    """A DepthFusionNode spinning in this process, in a namespace of its own (parameters: ``request.param``,
    indirect parametrization), and a feeder node."""
    from lingbot_depth_ros.ros.fusion_node import DepthFusionNode

    params = dict(request.param)
    namespace = f"/ffip{os.getpid()}_{abs(hash(request.node.name)) % 100000}"
    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = [Parameter("cameras", value=[namespace]), Parameter("fusion.integration_rate_hz", value=0.0),
                 Parameter("fusion.voxel_size_m", value=0.05)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    node = DepthFusionNode(context=context, parameter_overrides=overrides, namespace=namespace)
    feeder = rclpy.create_node("fusion_faults_in_process_feeder", context=context)
    pubs = {"depth": feeder.create_publisher(Image, f"{namespace}/depth/image", qos_profile_sensor_data),
            "info": feeder.create_publisher(CameraInfo, f"{namespace}/depth/camera_info", qos_profile_sensor_data),
            "pose": feeder.create_publisher(PoseStamped, f"{namespace}/pose", 50)}
    executor, thread = spin_in_background(context, node, feeder)
    try:
        repeat_until(lambda: pubs["info"].publish(_info(0)), lambda: node.cameras[0].info is not None, 20,
                     "the node to have a CameraInfo")
        yield InProcess(node, feeder, pubs, thread, namespace)
    finally:
        stop_spinning(executor, thread, context, node, feeder)


def _publish_frame(ip: InProcess, stamp_ns: int) -> None:
    ip.pubs["info"].publish(_info(stamp_ns))
    ip.pubs["depth"].publish(_good(stamp_ns))


@pytest.mark.parametrize("in_process", [{"fusion.pose_source": "none", "fusion.publish_rate_hz": 10.0,
                                         "fusion.weight_threshold": 0.0}], indirect=True)
def test_unexpected_exceptions_are_logged_counted_and_the_node_goes_on(in_process: InProcess) -> None:
    ip, node = in_process, in_process.node
    integrate, point_cloud = node.fusion.integrate, node.fusion.point_cloud
    calls = {"integrate": 0}

    def integrate_failing_once(*args: Any, **kwargs: Any) -> None:
        calls["integrate"] += 1
        if calls["integrate"] == 1:
            raise RuntimeError("injected failure in the volume")
        integrate(*args, **kwargs)

    def point_cloud_failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected failure in extraction")

    node.fusion.integrate = integrate_failing_once
    clouds = Recorder()
    ip.feeder.create_subscription(PointCloud2, f"{ip.namespace}/fused/points", clouds, 1)
    stamps = iter(range(1_800_000_000_000_000_000, 1_900_000_000_000_000_000, 100_000_000))
    repeat_until(lambda: _publish_frame(ip, next(stamps)), lambda: node.drops["internal_error"] >= 1, 30,
                 "the injected failure to be counted")
    assert "dropped (internal_error): RuntimeError: injected failure in the volume" in node.last_warning
    repeat_until(lambda: _publish_frame(ip, next(stamps)), lambda: node.fusion.stats.frames_integrated >= 1, 30,
                 "a frame fused after the injected failure")
    assert clouds.wait(lambda m: len(m) >= 1, 20), "no fused/points"
    # the publish timer fails while extraction is broken, and publishes again once it is not
    node.fusion.point_cloud = point_cloud_failing
    wait_until(lambda: node.callback_errors >= 2, 10, "the publish timer's failures to be counted")
    assert "publish callback failed: RuntimeError: injected failure in extraction" in node.last_warning
    published = len(clouds.messages)
    node.fusion.point_cloud = point_cloud
    assert clouds.wait(lambda m: len(m) > published + 1, 20), "no fused/points after the timer recovered"
    assert ip.thread.is_alive() and dict(node.drops) == {"internal_error": 1}


@pytest.mark.parametrize("in_process", [{"fusion.pose_source": "pose", "fusion.publish_rate_hz": 0.0}],
                         indirect=True)
def test_pose_jump_is_not_interpolated_nor_fused_across(in_process: InProcess) -> None:
    """Poses 0.1 s apart: x = 0, 0.1 m, then 50 km, 50 km + 0.1 m, 50 km + 0.2 m. A frame between the first two
    fuses; one inside the jump is refused (no interpolation); one after the jump is refused too (50 km from
    the last fused frame in 0.2 s); the next one fuses from the new pose."""
    ip, node = in_process, in_process.node
    t0 = 1_750_000_000_000_000_000
    for i, x in enumerate((0.0, 0.1, 5e4, 5e4 + 0.1, 5e4 + 0.2)):
        msg = PoseStamped(header=_header(t0 + i * 100_000_000, "map"))
        msg.pose.position.x, msg.pose.orientation.w = x, 1.0
        ip.pubs["pose"].publish(msg)
    wait_until(lambda: len(node.cameras[0].poses) == 5, 20, "the five poses to arrive")
    repeat_until(lambda: _publish_frame(ip, t0 + 50_000_000), lambda: node.fusion.stats.frames_integrated >= 1, 30,
                 "the frame before the jump to be fused")
    fused = node.fusion.stats.frames_integrated

    def drops() -> dict[str, int]:
        return {k: v for k, v in node.drops.items() if v}

    _publish_frame(ip, t0 + 150_000_000)  # between x = 0.1 m and 50 km
    wait_until(lambda: drops() == {"pose_jump": 1}, 10, "the frame inside the jump to be refused")
    assert "not interpolated" in node.last_warning
    _publish_frame(ip, t0 + 250_000_000)  # after the jump: 50 km from the last fused frame in 0.2 s
    wait_until(lambda: drops() == {"pose_jump": 2}, 10, "the first frame after the jump to be refused")
    assert "since its last fused frame" in node.last_warning
    _publish_frame(ip, t0 + 350_000_000)
    wait_until(lambda: node.fusion.stats.frames_integrated == fused + 1, 10, "fusion to resume after the jump")
    np.testing.assert_allclose(node.cameras[0].last_pose[1][:3, 3], [5e4 + 0.15, 0, 0], atol=1e-6)
    assert drops() == {"pose_jump": 2}
    # fusion.max_pose_speed_m_s 0 turns the guard off (live): the frame inside the jump is interpolated
    assert node.set_parameters([Parameter("fusion.max_pose_speed_m_s", value=0.0)])[0].successful
    _publish_frame(ip, t0 + 150_000_000)
    wait_until(lambda: node.fusion.stats.frames_integrated == fused + 2, 10, "the unguarded frame to be fused")
    np.testing.assert_allclose(node.cameras[0].last_pose[1][:3, 3], [2.5e4 + 0.05, 0, 0], atol=1e-6)

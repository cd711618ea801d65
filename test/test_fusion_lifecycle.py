"""The managed (lifecycle) fusion node (``lifecycle: true``), in its own process, driven from this one through its
real ``change_state`` / ``get_state`` services; its fused cloud, inputs and ``~/save_mesh`` checked on real
topics and services at each state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rclpy
from lifecycle_client import ACTIVATE, CLEANUP, CONFIGURE, DEACTIVATE, INACTIVE_SHUTDOWN, LifecycleClient
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import qos_profile_sensor_data
from ros_harness import NodeProcess, Recorder, StampClock, spin_in_background, stop_spinning
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_srvs.srv import Trigger
from waiting import Pacer, repeat_until, wait_until

from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.image_codec import depth_m_to_image
from lingbot_depth_ros.synthetic.generator import SceneGenerator

pytest.importorskip("open3d", reason="the fusion extra (open3d) is not installed")
pytestmark = pytest.mark.ros
NODE = "/depth_fusion_node"
PARAMS = {"lifecycle": True, "fusion.pose_source": "none", "fusion.integration_rate_hz": 0.0,
          "fusion.publish_rate_hz": 4.0, "fusion.voxel_size_m": 0.05, "fusion.max_depth_m": 5.0,
          "fusion.weight_threshold": 1.0}
Clock = StampClock(95)


class _FusionProcess(NodeProcess):
    """NodeProcess runs the depth node's module: the same, with depth_fusion_node's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.args[self.args.index("lingbot_depth_ros.ros.depth_node")] = "lingbot_depth_ros.ros.fusion_node"


class Feeder:
    """This process's side: publishes depth + camera_info, records fused/points, calls the node's services."""

    def __init__(self, node: NodeProcess) -> None:
        self.process = node
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("fusion_lifecycle_feeder", context=self.context)
        self.pub_depth = self.node.create_publisher(Image, "depth/image", qos_profile_sensor_data)
        self.pub_info = self.node.create_publisher(CameraInfo, "depth/camera_info", qos_profile_sensor_data)
        self.clouds = Recorder()
        self.node.create_subscription(PointCloud2, "fused/points", self.clouds, 1)
        self.frame = SceneGenerator(width=160, height=120, seed=3).frame(0)
        self.executor, self.thread = spin_in_background(self.context, self.node)
        self.lifecycle = LifecycleClient(self.node, NODE)

    def publish(self) -> None:
        header = intrinsics_to_camera_info(self.frame.intrinsics).header
        header.stamp.sec, header.stamp.nanosec = divmod(Clock.next(), 1_000_000_000)
        header.frame_id = "camera_optical_frame"
        self.pub_info.publish(intrinsics_to_camera_info(self.frame.intrinsics, header))
        self.pub_depth.publish(depth_m_to_image(self.frame.depth_gt_m, header))

    def fused_points(self) -> bool:
        """A non-empty fused/points cloud was received."""
        return any(m.width * m.height > 0 for m in self.clouds.messages)

    def cloud_publishers(self) -> int:
        return self.node.count_publishers("/fused/points")

    def call(self, srv_type: Any, name: str, request: Any) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=20), f"no service {name}"
            future = client.call_async(request)
            wait_until(future.done, 30, f"the answer of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_string(self, name: str, value: str) -> Any:
        param = ParameterMsg(name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value))
        return self.call(SetParameters, f"{NODE}/set_parameters", SetParameters.Request(parameters=[param])).results[0]

    def close(self) -> None:
        self.lifecycle.close()
        stop_spinning(self.executor, self.thread, self.context, self.node)


@contextlib.contextmanager
def _started(tmp_path: Path, **extra: Any) -> Iterator[Feeder]:
    params = dict(PARAMS, **{"fusion.output_dir": str(tmp_path)}, **extra)
    with _FusionProcess(params=params, log_path=tmp_path / "node.log") as node:
        node.wait_ready()
        feeder = Feeder(node)
        try:
            yield feeder
        finally:
            feeder.close()


def test_the_managed_fusion_node_through_every_transition(tmp_path: Path) -> None:
    with _started(tmp_path, **{"fusion.pose_source": "gps"}) as feeder:
        lifecycle, log = feeder.lifecycle, feeder.process.log
        assert lifecycle.state() == "unconfigured" and feeder.cloud_publishers() == 0
        assert not lifecycle.change(ACTIVATE)  # not from unconfigured

        # a bad value: configure refused with the reason, the process stays; set right, configure works
        assert not lifecycle.change(CONFIGURE)
        assert "configure failed:" in log() and "gps" in log().split("configure failed:")[1].splitlines()[0]
        assert lifecycle.state() == "unconfigured" and feeder.process.proc.poll() is None
        assert feeder.set_string("fusion.pose_source", "none").successful
        assert lifecycle.change(CONFIGURE) and lifecycle.state() == "inactive"
        assert "configured: TSDF volume made in" in log() and "memory RSS" in log()
        wait_until(lambda: feeder.cloud_publishers() > 0, 10, "the fused/points publisher")
        assert feeder.pub_depth.get_subscription_count() == 0  # subscribed at activate

        # active: depth frames fused, the cloud published
        assert lifecycle.change(ACTIVATE)
        repeat_until(feeder.publish, feeder.fused_points, 30, "a fused/points cloud", period_s=0.5,
                     detail=lambda: log()[-2000:])

        # inactive: nothing fused or published, the map stays (saved on request)
        assert lifecycle.change(DEACTIVATE)
        wait_until(lambda: feeder.pub_depth.get_subscription_count() == 0, 10, "the inputs to be unsubscribed")
        before, pacer = len(feeder.clouds.messages), Pacer(10)
        for _ in range(15):  # 1.5 s: six publish periods at 4 Hz, none may publish whatever the spacing
            feeder.publish()
            pacer.wait()
        assert len(feeder.clouds.messages) == before
        saved = feeder.call(Trigger, f"{NODE}/save_mesh", Trigger.Request())
        assert saved.success and "0 triangles" not in saved.message, saved.message

        # cleanup: the map released, the outputs gone; then shutdown ends the process
        assert lifecycle.change(CLEANUP) and lifecycle.state() == "unconfigured"
        assert "cleaned up: map released, memory RSS" in log()
        wait_until(lambda: feeder.cloud_publishers() == 0, 10, "the fused/points publisher to go")
        assert lifecycle.change(CONFIGURE) and lifecycle.change(INACTIVE_SHUTDOWN)
        assert feeder.process.wait_exit(30) == 0, log()[-3000:]


def test_the_managed_fusion_node_autostarts(tmp_path: Path) -> None:
    with _started(tmp_path, autostart=True) as feeder:
        assert feeder.lifecycle.state() == "active"
        repeat_until(feeder.publish, feeder.fused_points, 30, "a fused/points cloud", period_s=0.5)

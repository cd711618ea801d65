"""The temporal filter and multi-sweep LiDAR in the depth node, over real topics (classical completion, which
returns a constant sparse depth exactly, so every published value below is predictable).

A 160x120 camera sees a wall whose LiDAR says ``d`` metres; frames are sent one at a time (each waits for its
depth/image) so none is dropped as stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.parameter import Parameter
from ros_harness import NodeProcess, Recorder, RosHarness, in_process_node
from waiting import repeat_until, wait_until

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.ros.image_codec import depth_m_from_image

pytestmark = pytest.mark.ros
K = CameraIntrinsics(fx=200.0, fy=200.0, cx=80.0, cy=60.0, width=160, height=120)
SMALL = CameraIntrinsics(fx=100.0, fy=100.0, cx=40.0, cy=30.0, width=80, height=60)
RGB = np.full((120, 160, 3), 128, np.uint8)
FAST = {"mode": "completion", "diagnostics.period_s": 0.2, "cloud.enabled": False, "colorized.enabled": False,
        "guard.enabled": False}
WARN = 1


def wall(depth_m: float, k: CameraIntrinsics = K, step: int = 4, offset: int = 0) -> np.ndarray:
    """(H, W) float32 LiDAR depth [m] of a fronto-parallel wall: every ``step``-th pixel (shifted by ``offset``)."""
    sparse = np.zeros((k.height, k.width), np.float32)
    sparse[offset::step, offset::step] = depth_m
    return sparse


def status_values(msg: DiagnosticArray) -> tuple[DiagnosticStatus, dict[str, str]] | None:
    status = next((s for s in msg.status if s.name == "lingbot_depth_node: pipeline"), None)
    return None if status is None else (status, {kv.key: kv.value for kv in status.values})


class Camera:
    """Sends frames one at a time (fresh stamps 0.1 s apart) and reads depth/image and /diagnostics back."""

    def __init__(self, harness: RosHarness, start_s: int, pose_topic: str | None = None) -> None:
        self.harness = harness
        self.stamp = start_s * 1_000_000_000
        self.diagnostics = Recorder()
        harness.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics, 10)
        self.pose_pub = harness.node.create_publisher(PoseStamped, pose_topic, 50) if pose_topic else None

    def send_pose(self, stamp: int, z_m: float, quaternion: tuple[float, float, float, float] = (0, 0, 0, 1),
                  frame_id: str = "odom") -> None:
        assert self.pose_pub is not None
        msg = PoseStamped()
        msg.header = RosHarness.header(stamp, frame_id)
        msg.pose.position.z = float(z_m)
        q = msg.pose.orientation
        q.x, q.y, q.z, q.w = (float(v) for v in quaternion)
        self.pose_pub.publish(msg)

    def frame(self, sparse_m: np.ndarray, k: CameraIntrinsics = K, rgb: np.ndarray = RGB,
              before: Any = None) -> np.ndarray:
        """Send a frame (after ``before(stamp)``, e.g. its pose) until its depth/image comes back; that depth."""
        recorder = self.harness.recorders["depth/image"]
        stamps: list[int] = []

        def send() -> None:
            self.stamp += 100_000_000
            stamps.append(self.stamp)
            if before is not None:
                before(self.stamp)
            self.harness.publish_frame(rgb, k, sparse_m, self.stamp, sparse_encoding="32FC1")

        repeat_until(send, lambda: any(recorder.by_stamp(s) is not None for s in stamps), 30, "a frame's depth",
                     period_s=2.0)
        msg = next(recorder.by_stamp(s) for s in stamps if recorder.by_stamp(s) is not None)
        return depth_m_from_image(msg)

    def status(self, key: str, predicate: Any, timeout: float = 20.0) -> tuple[DiagnosticStatus, dict[str, str]]:
        """The first /diagnostics pipeline status from now on whose ``key`` satisfies ``predicate``."""
        since = len(self.diagnostics.messages)

        def found() -> tuple[DiagnosticStatus, dict[str, str]] | None:
            for msg in list(self.diagnostics.messages[since:]):
                got = status_values(msg)
                if got is not None and key in got[1] and predicate(got[1][key]):
                    return got
            return None

        wait_until(lambda: found() is not None, timeout, f"diagnostics '{key}'",
                   detail=lambda: [status_values(m) for m in self.diagnostics.messages[-1:]])
        result = found()
        assert result is not None
        return result


@pytest.fixture(scope="module")
def classical() -> Any:
    return create_estimator("classical")


@pytest.fixture
def standing(classical: Any) -> Iterator[tuple[Any, Camera]]:
    with in_process_node(classical, **FAST, **{"temporal.enabled": True}) as (node, harness):
        yield node, Camera(harness, 100)


def test_standing_camera_blends_agreeing_depth_and_resets_where_it_disagrees(standing) -> None:
    """2.0 m then 2.1 m: blended (between them, nearer 2.0 with more history); a box at 4.0 m appearing: its
    pixels are 4.0 exactly (reset, nothing trails); turned off at run time: the frame as estimated."""
    node, camera = standing
    assert np.all(camera.frame(wall(2.0)) == 2.0)
    blended = camera.frame(wall(2.1))
    assert np.all((blended > 2.0) & (blended < 2.1)), (np.nanmin(blended), np.nanmax(blended))
    box = wall(2.1)
    box[40:80:4, 60:100:4] = 4.0
    out = camera.frame(box)
    assert np.all(out[48:72, 68:92] == pytest.approx(4.0))      # the box: the new depth, no trail of the wall
    assert np.all((out[:20] > 2.0) & (out[:20] < 2.1))          # the wall: still blended
    _, values = camera.status("temporal last frame blended / reset / filled pixels",
                              lambda v: int(v.split(" / ")[1]) > 0)
    assert values["temporal pose source"] == "none"
    assert node.set_parameters([Parameter("temporal.enabled", value=False)])[0].successful
    wait_until(lambda: not node.values["temporal.enabled"], 5, "the parameter to apply")
    assert np.all(camera.frame(wall(2.1)) == pytest.approx(2.1))  # off: as estimated


def test_a_size_change_resets_the_history_without_smearing(standing) -> None:
    node, camera = standing
    camera.frame(wall(2.0))
    camera.frame(wall(2.0))
    small = camera.frame(wall(3.0, SMALL), SMALL, RGB[:60, :80])
    assert small.shape == (60, 80) and np.all(small == 3.0)     # the new frame alone
    status, values = camera.status("temporal resets", lambda v: "size changed: 1" in v)
    assert "size changed" in values["temporal last reset"]


def test_lidar_sweeps_accumulate_older_returns_bounded(classical) -> None:
    """temporal.lidar_sweeps 3 at a standing camera: the older two sweeps' returns are held (diagnostics), and
    the completion of a frame whose own returns cover only the top half still sees the older sweeps' returns
    of the bottom half (so it is 2.0 m there, not the top half's 3.0 m extended down)."""
    with in_process_node(classical, **FAST, **{"temporal.lidar_sweeps": 3}) as (_, harness):
        camera = Camera(harness, 200)
        first, second = wall(2.0, step=8), wall(2.0, step=8, offset=4)
        camera.frame(first)
        camera.frame(second)
        top_only = wall(3.0, step=2)   # dense enough that every older return of the top half has a newer one
        top_only[60:] = 0              # within temporal.sweep window (3 px) that disagrees: dropped
        out = camera.frame(top_only)
        assert np.nanmax(np.abs(out[:40, 8:] - 3.0)) < 0.01
        assert np.nanmax(np.abs(out[80:, 8:] - 2.0)) < 0.01   # 1 sweep: no return here, the top's 3 m extended
        held = np.count_nonzero(top_only) + np.count_nonzero(second)
        camera.status("lidar sweeps held points", lambda v: int(v) == held)


def test_poses_compensate_ego_motion_and_a_missing_or_bad_pose_resets_once(tmp_path: Path) -> None:
    """A camera driving towards a wall (0.1 m per frame, PoseStamped of its optical frame): with its poses the
    warped history agrees with each new frame (no lag); a frame without a pose, and one with a non-unit
    quaternion, reset the history (the frame as estimated), each warned once, counted in diagnostics."""
    params = {**FAST, "estimator": "classical", "temporal.enabled": True, "temporal.pose_source": "pose",
              "temporal.max_pose_age_s": 0.05}
    log = tmp_path / "node.log"
    with NodeProcess(params, log_path=log) as node:
        node.wait_ready()
        harness = RosHarness()
        try:
            harness.wait_connected()
            camera = Camera(harness, 300, pose_topic="camera_pose")
            wait_until(lambda: camera.pose_pub.get_subscription_count() > 0, 20, "the node's pose subscription")
            distance = [2.0]

            def pose(stamp: int) -> None:
                camera.send_pose(stamp, 2.0 - distance[0])

            for d in (2.0, 1.9, 1.8):
                distance[0] = d
                out = camera.frame(wall(d), before=pose)
            assert np.all(np.abs(out - 1.8) < 0.005), (np.nanmin(out), np.nanmax(out))  # no lag: motion known
            _, values = camera.status("temporal last frame blended / reset / filled pixels",
                                      lambda v: int(v.split(" / ")[0]) > 0.9 * 160 * 120)
            assert values["temporal resets"] == "none"
            for _ in range(2):   # no pose: reset (the frame as estimated), warned once for the run
                assert np.all(camera.frame(wall(1.5)) == 1.5)
            camera.status("temporal resets", lambda v: "pose missing: 2" in v)
            bad = camera.frame(wall(1.4), before=lambda s: camera.send_pose(s, 0.6, (0, 0, 0, 2)))
            assert np.allclose(bad, 1.4, atol=1e-5), (np.nanmin(bad), np.nanmax(bad))  # not blended with 1.5
            status, values = camera.status("temporal resets", lambda v: "pose missing: 3" in v)
            assert status.level in (WARN, bytes([WARN])) and "temporal history reset" in status.message
        finally:
            harness.close()
    text = log.read_text()
    assert text.count("history reset, pose missing") == 1, text[-3000:]
    assert text.count("non-unit quaternion") == 1, text[-3000:]


def test_odometry_with_the_mounting_compensates_ego_motion(classical) -> None:
    """temporal.pose_source odometry: the base drives 0.1 m per frame towards a wall ahead (Odometry x), the camera
    looks forward from the base (mounting at the origin, REP 103 optical frame appended): no lag, every pixel
    blended; without poses (none) the same frames lag behind (the history of a farther wall is blended in)."""
    outputs = {}
    for source in ("odometry", "none"):
        params = {**FAST, "temporal.enabled": True, "temporal.pose_source": source}
        with in_process_node(classical, **params) as (_, harness):
            camera = Camera(harness, 400)
            odom = harness.node.create_publisher(Odometry, "odom", 50)
            if source == "odometry":
                wait_until(lambda odom=odom: odom.get_subscription_count() > 0, 20, "the node's odometry subscription")

            def send_odometry(stamp: int, x_m: float, odom: Any = odom) -> None:
                msg = Odometry()
                msg.header = RosHarness.header(stamp, "odom")
                msg.child_frame_id = "base_link"
                msg.pose.pose.position.x = float(x_m)
                msg.pose.pose.orientation.w = 1.0
                odom.publish(msg)

            for d in (2.0, 1.9, 1.8):
                out = camera.frame(wall(d), before=lambda stamp, d=d: send_odometry(stamp, 2.0 - d))
            outputs[source] = out
    assert np.all(np.abs(outputs["odometry"] - 1.8) < 0.005), np.nanmax(outputs["odometry"])
    assert np.all(outputs["none"] > 1.83), np.nanmin(outputs["none"])   # lag: (1.95 x 2 + 1.8) / 3 = 1.9


def test_tf_source_without_tf2_is_refused_with_one_clear_error(classical) -> None:
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tf2_ros is installed here: the tf source works (this checks the error without it)")
    with pytest.raises(ConfigError, match="temporal.pose_source 'tf' needs tf2_ros"):
        with in_process_node(classical, **FAST, **{"temporal.enabled": True, "temporal.pose_source": "tf"}):
            pass

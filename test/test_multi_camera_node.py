"""One node process serving several camera namespaces from one estimator (issue 15 §4), over real rclpy.

* two cameras (front, left) each get their own correct depth, and a frame of one camera never shows up
  on the other's topics;
* frames of both cameras that are ready together go through the estimator as one batch;
* one tiny LingBot-Depth model (one instance in the process) serves both cameras;
* per-camera diagnostics and parameters (cameras must be valid, distinct namespaces).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import Recorder, multi_camera_node
from waiting import Pacer, wait_until

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.estimators.base import DepthEstimate, EstimatorInput
from lingbot_depth_ros.estimators.classical import ClassicalCompletionEstimator
from lingbot_depth_ros.estimators.lingbot import LingbotEstimator
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_to_xyz
from lingbot_depth_ros.ros.image_codec import depth_m_from_image
from lingbot_depth_ros.synthetic.generator import SceneGenerator
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

pytestmark = pytest.mark.ros
CAMERAS = ["front", "left"]
W, H = 160, 120


class BatchRecorder(ClassicalCompletionEstimator):
    """Classical completion that records the size of every batch it is given (and can be slowed down)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def estimate_batch(self, frames: Sequence[EstimatorInput]) -> list[DepthEstimate]:
        with self.lock:
            self.batches.append(len(frames))
        time.sleep(self.delay_s)
        return super().estimate_batch(frames)


@pytest.fixture(scope="module")
def frames() -> dict[str, Any]:
    """A different scene per camera (so a leak is visible), sparse depth on whole millimetres (16UC1)."""
    out = {}
    for seed, camera in enumerate(CAMERAS):
        frame = SceneGenerator(width=W, height=H, seed=11 + seed).frame(0)
        frame.sparse_depth_m = (np.round(frame.sparse_depth_m * 1000) / 1000).astype(np.float32)
        out[camera] = frame
    return out


def expected_depth(estimator: Any, frame: Any) -> np.ndarray:
    return DepthPipeline(estimator, OutputSettings(cloud=False, colorized=False)).process(
        frame.rgb, frame.sparse_depth_m, frame.intrinsics).depth_m


def stamp_of(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_two_cameras_one_estimator_own_depth_no_leak_and_batched(frames) -> None:
    estimator = BatchRecorder(delay_s=0.15)
    # batch_wait_s: a set waits for the other camera's set of its instant (sent a few ms later), however the
    # machine schedules the two publishes
    with multi_camera_node(estimator, CAMERAS, mode="completion", batch_wait_s=1.0) as (node, harnesses):
        assert [c.camera for c in node.channels] == CAMERAS
        assert all(c.pub_depth.topic_name == f"/{c.camera}/depth/image" for c in node.channels)
        stamps = {camera: [] for camera in CAMERAS}
        base = {"front": 5_000_000_000_000, "left": 7_000_000_000_000}  # disjoint stamps per camera
        # two cameras at 10 Hz, faster than the estimator (0.15 s a batch): sets queue and the stale ones are
        # dropped; the assertions (own depth, no leak, some batch of 2) hold for any spacing of the instants
        pacer = Pacer(10.0)
        for i in range(8):
            for camera in CAMERAS:
                stamp = base[camera] + i * 100_000_000
                stamps[camera].append(stamp)
                f = frames[camera]
                harnesses[camera].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamp)
            pacer.wait()
        for camera in CAMERAS:
            rec = harnesses[camera].recorders["depth/image"]
            last = stamps[camera][-1]
            assert rec.wait(lambda msgs, last=last: any(stamp_of(m) == last for m in msgs), 30), \
                f"{camera}: last frame not published"
        reference = ClassicalCompletionEstimator()
        for camera, other in (("front", "left"), ("left", "front")):
            rec = harnesses[camera].recorders["depth/image"]
            received = {stamp_of(m) for m in rec.messages}
            assert received <= set(stamps[camera]), f"{other}'s frame leaked to {camera}"
            expected = expected_depth(reference, frames[camera])
            other_expected = expected_depth(reference, frames[other])
            for msg in rec.messages:
                depth = depth_m_from_image(msg)
                np.testing.assert_allclose(depth, expected, rtol=1e-6, equal_nan=True)
                assert not np.allclose(depth, other_expected, equal_nan=True)
            for topic in ("depth/camera_info", "points"):
                assert {stamp_of(m) for m in harnesses[camera].recorders[topic].messages} <= set(stamps[camera])
        # the slow estimator lets both cameras' sets wait together: they share one forward
        assert max(estimator.batches) == 2 and min(estimator.batches) >= 1, estimator.batches
        assert node.channels[0].frames_published >= 1 and node.channels[1].frames_published >= 1


def test_per_camera_diagnostics(frames) -> None:
    with multi_camera_node(create_estimator("classical"), CAMERAS, mode="completion",
                           **{"diagnostics.period_s": 0.2}) as (node, harnesses):
        recorder = Recorder()
        harnesses["front"].node.create_subscription(DiagnosticArray, "/diagnostics", recorder, 10)
        f = frames["front"]
        stamp = 9_000_000_000_000
        harnesses["front"].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamp)
        rec = harnesses["front"].recorders["depth/image"]
        assert rec.wait(lambda msgs: len(msgs) > 0, 20)

        def statuses(messages: list) -> dict:
            names = {}
            for msg in messages:
                for status in msg.status:
                    names[status.name] = {kv.key: kv.value for kv in status.values}
            return names

        assert recorder.wait(lambda m: int(statuses(m).get("lingbot_depth_node: front/pipeline", {})
                                           .get("frames published", 0)) >= 1, 20)
        found = statuses(recorder.messages)
        assert found["lingbot_depth_node: front/pipeline"]["camera"] == "front"
        assert found["lingbot_depth_node: left/pipeline"]["frames published"] == "0"


def test_one_tiny_lingbot_model_serves_both_cameras(frames, tmp_path: Path) -> None:
    checkpoint = make_tiny_checkpoint(tmp_path / "model.pt", seed=0)
    params = {"estimator": "lingbot", "lingbot.checkpoint": str(checkpoint), "lingbot.device": "cpu",
              "lingbot.resolution_level": 0, "mode": "completion"}
    with multi_camera_node(None, CAMERAS, **params) as (node, harnesses):
        gc.collect()
        assert sum(isinstance(o, LingbotEstimator) for o in gc.get_objects()) == 1, "one model in the process"
        stamps = {"front": 11_000_000_000_000, "left": 12_000_000_000_000}
        for camera in CAMERAS:
            f = frames[camera]
            harnesses[camera].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamps[camera])
        for camera in CAMERAS:
            rec = harnesses[camera].recorders["depth/image"]
            assert rec.wait(lambda msgs, stamp=stamps[camera]: any(stamp_of(m) == stamp for m in msgs), 60), camera
        node_bytes = node.estimator.model.transfers.device_to_host_bytes  # the node's frames only (so far)
        for camera, other in (("front", "left"), ("left", "front")):
            msgs = harnesses[camera].recorders["depth/image"].messages
            assert {stamp_of(m) for m in msgs} == {stamps[camera]}
            depth = depth_m_from_image(msgs[0])
            # the very model instance of the node, run on this camera's frame alone
            expected = expected_depth(node.estimator, frames[camera])
            np.testing.assert_allclose(depth, expected, rtol=1e-4, atol=1e-5, equal_nan=True)
            assert not np.allclose(depth, expected_depth(node.estimator, frames[other]), rtol=1e-3, equal_nan=True)
            # the cloud, made on the model's device (torch) from that depth, is the host's cloud of it
            points = harnesses[camera].recorders["points"]
            assert points.wait(lambda msgs, stamp=stamps[camera]: any(stamp_of(m) == stamp for m in msgs), 30), camera
            host = DepthPipeline.cloud(depth, frames[camera].rgb, frames[camera].intrinsics, node.pipeline.settings)
            xyz = pointcloud2_to_xyz(points.messages[0], skip_nans=not node.values["cloud.organized"])
            np.testing.assert_allclose(xyz, host.xyz.reshape(-1, 3), rtol=0, atol=1e-6, equal_nan=True)
        # downloaded per frame: the depth (4 B/px) and the cloud xyz (12 B per point), nothing else: the
        # confidence (confidence.enabled, the default) is lazy and nobody subscribes to depth/confidence here,
        # so the mask probability (4 B/px) stays on the device
        stride = node.values["cloud.stride"]
        grid = -(-H // stride) * -(-W // stride)
        assert node.values["confidence.enabled"]
        assert node_bytes == 2 * (W * H * 4 + grid * 12)


@pytest.mark.parametrize("cameras, message", [(["front", "front"], "listed twice"),
                                              (["9front"], "not a relative ROS namespace"),
                                              (["front", "/left"], "not a relative ROS namespace")])
def test_bad_camera_lists_refused(cameras: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        with multi_camera_node(create_estimator("classical"), cameras):
            pass


def test_no_cameras_is_the_single_camera_node(frames) -> None:
    """cameras: [] keeps today's relative topics (the single-camera tests cover the behaviour)."""
    with multi_camera_node(create_estimator("classical"), [], mode="completion") as (node, _):
        assert len(node.channels) == 1 and node.channels[0].camera == ""
        assert node.channels[0].pub_depth.topic_name == "/depth/image"


def test_frames_of_one_instant_share_a_forward_and_a_silent_camera_is_not_waited_for(frames) -> None:
    estimator = BatchRecorder()
    # the longest wait (10 s): it ends as soon as every publishing camera's set is there, and never waits for a
    # silent one; reliable inputs: a lost message would hold the first camera's set for the whole wait
    with multi_camera_node(estimator, CAMERAS, mode="completion", batch_wait_s=10.0,
                           input_qos="reliable") as (node, harnesses):
        stamp = 13_000_000_000_000
        joined: list[list[int]] = []  # the batches of each instant whose cameras counted as publishing
        last_publish = None
        for _instant in range(20):  # both cameras, same stamp, a few ms apart: one batch each time
            if len(joined) == 4:
                break
            stamp += 100_000_000
            first = len(estimator.batches)
            # a camera counts as publishing while its last image is < 1 s old: an instant that starts later
            # than that after the previous one (a stall of a loaded machine) may rightly not wait for the other
            expect_join = last_publish is not None and time.monotonic() - last_publish < 0.7
            for camera in CAMERAS:
                f = frames[camera]
                harnesses[camera].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamp)
            last_publish = time.monotonic()
            for camera in CAMERAS:
                rec = harnesses[camera].recorders["depth/image"]
                assert rec.wait(lambda msgs, stamp=stamp: any(stamp_of(m) == stamp for m in msgs), 20), camera
            if expect_join:
                joined.append(estimator.batches[first:])
        assert len(joined) == 4, f"the machine stalled > 0.7 s before most of 20 instants: {estimator.batches}"
        assert all(batches == [2] for batches in joined), (joined, estimator.batches)
        # left stops publishing: once its last image is 1 s old, front's frames are no longer held back for it
        left = node.channels[1]
        wait_until(lambda: not left.publishing(time.monotonic()), 10, "left to count as silent")
        estimator.batches.clear()
        f = frames["front"]
        for _ in range(3):
            stamp += 100_000_000
            harnesses["front"].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamp)
            rec = harnesses["front"].recorders["depth/image"]
            # held back for left, it would come out after the 10 s batch wait
            assert rec.wait(lambda msgs, stamp=stamp: any(stamp_of(m) == stamp for m in msgs), 5.0), \
                "held back for left"
        assert estimator.batches == [1, 1, 1]


def test_a_slow_publish_on_one_camera_does_not_hold_back_the_other(frames) -> None:
    """front's publishing blocks (until released); left's frame of the same batch is published meanwhile,
    and front's own frames still come out in order once it is released."""
    estimator = BatchRecorder(delay_s=0.15)  # both cameras' sets wait together: one batch
    with multi_camera_node(estimator, CAMERAS, mode="completion", batch_wait_s=2.0,
                           input_qos="reliable") as (node, harnesses):
        front = node.channels[0]
        assert front.camera == "front"
        release = threading.Event()
        blocked = threading.Event()
        original = front.publish

        def slow_publish(frame: Any, result: Any) -> None:
            blocked.set()
            release.wait(60)
            original(frame, result)

        warm_up = 14_000_000_000_000  # both cameras publishing: the next sets of both are batched together
        for camera in CAMERAS:
            f = frames[camera]
            harnesses[camera].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, warm_up)
        for camera in CAMERAS:
            assert harnesses[camera].recorders["depth/image"].wait(
                lambda msgs: any(stamp_of(m) == warm_up for m in msgs), 30), camera
        assert wait_until(lambda: not any(c.finishing for c in node.channels), 10)
        for camera in CAMERAS:
            harnesses[camera].recorders["depth/image"].messages.clear()
        front.publish = slow_publish  # type: ignore[method-assign]
        stamps = [15_000_000_000_000 + i * 100_000_000 for i in range(3)]
        try:
            for camera in CAMERAS:
                f = frames[camera]
                harnesses[camera].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamps[0])
            assert blocked.wait(30), "front's frame was not processed"
            left = harnesses["left"].recorders["depth/image"]
            assert left.wait(lambda msgs: any(stamp_of(m) == stamps[0] for m in msgs), 30), \
                "left's frame waited for front's blocked publish"
            assert not release.is_set()
            assert harnesses["front"].recorders["depth/image"].messages == []
            for stamp in stamps[1:]:  # left keeps going while front is still blocked
                f = frames["left"]
                harnesses["left"].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamp)
                assert left.wait(lambda msgs, stamp=stamp: any(stamp_of(m) == stamp for m in msgs), 30), stamp
            f = frames["front"]
            synchronized = front.rates["synchronized"].count
            harnesses["front"].publish_frame(f.rgb, f.intrinsics, f.sparse_depth_m, stamps[1])
            # front's next set is in (it waits in its slot, behind its blocked frame) before the release
            wait_until(lambda: front.rates["synchronized"].count > synchronized, 10, "front's next set")
        finally:
            release.set()
        rec = harnesses["front"].recorders["depth/image"]
        assert rec.wait(lambda msgs: any(stamp_of(m) == stamps[1] for m in msgs), 30)
        assert [stamp_of(m) for m in rec.messages] == stamps[:2], "front's frames out of order"
        # (the counters are incremented just after the messages go out)
        assert wait_until(lambda: front.frames_published == 3 and node.channels[1].frames_published == 4, 10)

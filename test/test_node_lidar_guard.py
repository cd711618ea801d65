"""The LiDAR agreement guard end to end: a real depth node (a tiny random LingBot-Depth checkpoint, classical)
fed over real topics, its /diagnostics and depth/image read back.

The tiny model answers about 2 m whatever its input (lingbot_checkpoints), so the scene's LiDAR "truth" here is
the model's own depth at the scene's LiDAR pixels: sent in metres it agrees; sent as millimetre numbers in a
32FC1 image (a LiDAR driver in mm read as metres) it is off by x1/1000; sent at 1/1.8 of it, the model's scale is
off by x1.8 (what a CameraInfo that does not match the image gives a model whose scale follows the focal length,
e.g. Depth Pro; LingBot-Depth reads no intrinsics, so the test makes the same figures through the LiDAR).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from ros_harness import Recorder, RosHarness, in_process_node
from waiting import repeat_until, wait_until

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.estimators.base import DepthEstimator
from lingbot_depth_ros.pipeline.lidar_guard import GuardSettings, holdout_mask
from lingbot_depth_ros.synthetic.generator import SceneGenerator
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

pytestmark = pytest.mark.ros
OK, WARN = 0, 1
FAST = {"diagnostics.period_s": 0.2, "cloud.enabled": False, "colorized.enabled": False}
LINGBOT = {"mode": "completion", **FAST}


@pytest.fixture(scope="module")
def lingbot(tmp_path_factory) -> DepthEstimator:
    checkpoint = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model.pt", seed=0)
    return create_estimator("lingbot", checkpoint=str(checkpoint), device="cpu", resolution_level=0)


@pytest.fixture(scope="module")
def scene(lingbot: DepthEstimator) -> dict[str, Any]:
    """A 320x240 frame; ``truth``: (H, W) float32 [m] the tiny model's depth at the scene's LiDAR pixels, 0
    elsewhere (the LiDAR the model agrees with)."""
    frame = SceneGenerator(width=320, height=240, seed=3).frame(0)
    has_sample = frame.sparse_depth_m > 0
    model = lingbot.estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics).depth_m
    truth = np.where(has_sample & np.isfinite(model), model, 0).astype(np.float32)
    return {"rgb": frame.rgb, "intrinsics": frame.intrinsics, "truth": truth}


def status_of(msg: DiagnosticArray) -> DiagnosticStatus | None:
    return next((s for s in msg.status if s.name == "lingbot_depth_node: pipeline"), None)


def level_of(status: DiagnosticStatus) -> int:
    return status.level[0] if isinstance(status.level, (bytes, bytearray)) else int(status.level)


def values_of(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


class Camera:
    """Feeds one frame (fresh stamps) to the node and reads /diagnostics and depth/image back."""

    def __init__(self, harness: RosHarness, scene: dict[str, Any], lidar_m: np.ndarray, stamp_s: int) -> None:
        self.harness, self.scene, self.lidar_m = harness, scene, lidar_m
        self.stamp = stamp_s * 1_000_000_000
        self.sent: list[int] = []
        self.diagnostics = Recorder()
        harness.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics, 10)

    def send(self) -> None:
        self.stamp += 100_000_000
        self.sent.append(self.stamp)
        self.harness.publish_frame(self.scene["rgb"], self.scene["intrinsics"], self.lidar_m, self.stamp,
                                   sparse_encoding="32FC1")

    def status(self, predicate: Callable[[DiagnosticStatus], bool], since: int = 0) -> DiagnosticStatus | None:
        for msg in list(self.diagnostics.messages[since:]):
            status = status_of(msg)
            if status is not None and predicate(status):
                return status
        return None

    def feed_until_status(self, predicate: Callable[[DiagnosticStatus], bool], what: str,
                          timeout: float = 60.0) -> DiagnosticStatus:
        since = len(self.diagnostics.messages)
        repeat_until(self.send, lambda: self.status(predicate, since) is not None, timeout, what, period_s=0.25)
        status = self.status(predicate, since)
        assert status is not None
        return status

    def depth(self, stamp: int) -> np.ndarray | None:
        from lingbot_depth_ros.ros.image_codec import depth_m_from_image
        msg = self.harness.recorders["depth/image"].by_stamp(stamp)
        return None if msg is None else depth_m_from_image(msg)

    def last_depth(self) -> tuple[int, np.ndarray]:
        """The newest published depth: (stamp [ns], (H, W) float32 [m])."""
        for stamp in reversed(self.sent):
            depth = self.depth(stamp)
            if depth is not None:
                return stamp, depth
        raise AssertionError("no depth/image published")


def _disagreeing_warn(diagnosis: str) -> Callable[[DiagnosticStatus], bool]:
    return lambda s: level_of(s) == WARN and "LiDAR guard: the depth disagrees with the LiDAR" in s.message \
        and diagnosis in s.message


def _scale(status: DiagnosticStatus) -> float:
    return float(values_of(status)["lidar agreement scale output/LiDAR"])


def test_lidar_in_millimetres_warns_naming_the_units_and_drop_drops_with_the_counter(lingbot, scene) -> None:
    """A 32FC1 LiDAR image holding millimetre numbers: WARN after guard.warn_after_frames frames saying so
    (warn still publishes); guard.action set to drop at run time: nothing published, lidar_disagreement
    counted."""
    params = {**LINGBOT, "guard.warn_after_frames": 2}
    with in_process_node(lingbot, **params) as (node, harness):
        camera = Camera(harness, scene, scene["truth"] * np.float32(1000), 100)
        status = camera.feed_until_status(_disagreeing_warn("millimetres read as metres"), "the mm WARN")
        assert abs(_scale(status) * 1000 - 1) < 0.05, values_of(status)
        assert values_of(status)["lidar agreement samples"].endswith("(held-out)")
        assert float(values_of(status)["lidar agreement median abs rel error"]) > 0.99
        _, depth = camera.last_depth()  # warn: published as estimated (about 2 m, not rescaled to km)
        assert 1.5 < np.nanmedian(depth) < 2.5

        assert node.set_parameters([Parameter("guard.action", value="drop")])[0].successful
        since = len(camera.sent)
        status = camera.feed_until_status(
            lambda s: int(values_of(s).get("frames dropped lidar_disagreement", "0")) >= 3, "3 dropped frames")
        assert "dropped" in values_of(status)["lidar guard"]
        dropped_after = camera.sent[since + 1:]  # the first may have been taken before the set applied
        assert dropped_after and all(camera.depth(s) is None for s in dropped_after)


def test_scale_off_by_1_8_names_camera_info_and_rescale_fixes_it(lingbot, scene) -> None:
    """The model's depth at x1.8 the LiDAR's: the WARN names CameraInfo / depth units; guard.action rescale
    publishes depth that agrees with the LiDAR."""
    lidar_m = scene["truth"] / np.float32(1.8)
    with in_process_node(lingbot, **{**LINGBOT, "guard.warn_after_frames": 2}) as (node, harness):
        camera = Camera(harness, scene, lidar_m, 200)
        status = camera.feed_until_status(
            _disagreeing_warn("check CameraInfo matches the image size and the depth units"), "the x1.8 WARN")
        assert abs(_scale(status) - 1.8) < 0.05, values_of(status)
        _, depth = camera.last_depth()
        has = lidar_m > 0
        assert np.nanmedian(depth[has] / lidar_m[has]) > 1.7  # warn: still off

        assert node.set_parameters([Parameter("guard.action", value="rescale")])[0].successful
        status = camera.feed_until_status(lambda s: "rescaled by 1/1.8" in values_of(s).get("lidar agreement", ""),
                                          "a rescaled frame")
        stamp = camera.sent[-1]
        wait_until(lambda: camera.depth(stamp) is not None, 20, "the last frame's depth")
        depth = camera.depth(stamp)
        assert depth is not None
        ratio = depth[has] / lidar_m[has]
        assert abs(np.nanmedian(ratio) - 1) < 0.02, np.nanmedian(ratio)  # the scale is fixed
        assert int(values_of(status)["lidar guard"].split("rescaled ")[1].split(",")[0]) >= 1


def test_agreeing_lidar_leaves_the_depth_as_estimated_and_diagnostics_ok(lingbot, scene) -> None:
    """LiDAR that agrees: diagnostics OK with the figures; under rescale the depth is exactly the model's answer
    to its input without the held-out samples (the seeded draw the node made for that stamp)."""
    settings = GuardSettings()
    with in_process_node(lingbot, **{**LINGBOT, "guard.action": "rescale"}) as (node, harness):
        camera = Camera(harness, scene, scene["truth"], 300)
        status = camera.feed_until_status(lambda s: values_of(s).get("lidar agreement", "").startswith("agree on"),
                                          "an agreeing frame")
        assert level_of(status) == OK and "disagree" not in status.message
        assert float(values_of(status)["lidar agreement within 5 %"]) > 0.9
        assert abs(_scale(status) - 1) < 0.02
        stamp, depth = camera.last_depth()
        output_settings = node.pipeline.settings
    received = np.where(scene["truth"] > 0, scene["truth"], np.nan).astype(np.float32)  # 32FC1: NaN = none
    held = holdout_mask(received, settings.holdout_share, stamp)
    assert held.sum() >= settings.min_samples
    given = np.where(held, np.float32(0), received).astype(np.float32)
    estimate = lingbot.estimate(scene["rgb"], given, scene["intrinsics"])
    expected = node.pipeline.postprocess_depth(estimate.depth_m, estimate.valid, output_settings)
    np.testing.assert_array_equal(depth, expected)


def test_holdout_share_0_gives_the_model_every_sample_and_measures_on_them(lingbot, scene) -> None:
    """guard.holdout_share 0: the depth is that of guard.enabled false (nothing withheld), the agreement is
    measured on the samples the model saw."""
    depths = []
    for index, enabled in enumerate((True, False)):
        params = {**LINGBOT, "guard.holdout_share": 0.0, "guard.enabled": enabled}
        with in_process_node(lingbot, **params) as (_, harness):
            camera = Camera(harness, scene, scene["truth"], 400 + index)
            key = "lidar agreement samples" if enabled else "lidar guard"
            status = camera.feed_until_status(lambda s, key=key: key in values_of(s), key)
            if enabled:
                assert values_of(status)["lidar agreement samples"].endswith("(seen)")
            else:
                assert values_of(status)["lidar guard"] == "off (guard.enabled false)"
            camera.feed_until_status(lambda s: True, "one more status")  # frames after the first status
            depths.append(camera.last_depth()[1])
    np.testing.assert_array_equal(depths[0], depths[1])


def test_classical_is_not_guarded_and_publishes_as_without_the_guard(scene, tmp_path: Path) -> None:
    """Classical completion interpolates the LiDAR: diagnostics say 'not guarded', nothing is withheld (the same
    depth as with the guard off)."""
    depths = []
    for index, enabled in enumerate((True, False)):
        classical = create_estimator("classical")
        with in_process_node(classical, **{**FAST, "guard.enabled": enabled}) as (_, harness):
            camera = Camera(harness, scene, scene["truth"], 500 + index)
            status = camera.feed_until_status(lambda s: "lidar guard" in values_of(s), "the guard line")
            if enabled:
                assert values_of(status)["lidar guard"].startswith("not guarded: 'classical' is weight-free")
                assert "lidar agreement" not in values_of(status)
            camera.feed_until_status(lambda s: True, "one more status")
            depths.append(camera.last_depth()[1])
    np.testing.assert_array_equal(depths[0], depths[1])


def test_too_few_lidar_samples_say_not_enough_samples(lingbot, scene) -> None:
    """40 LiDAR samples: 5 % of them (2) is below guard.min_samples: no verdict, 'not enough samples', OK."""
    sparse = np.zeros_like(scene["truth"])
    rows, cols = np.nonzero(scene["truth"])
    sparse[rows[:40], cols[:40]] = scene["truth"][rows[:40], cols[:40]]
    with in_process_node(lingbot, **LINGBOT) as (_, harness):
        camera = Camera(harness, scene, sparse, 600)
        status = camera.feed_until_status(lambda s: "lidar agreement" in values_of(s)
                                          and "not enough samples" in values_of(s)["lidar agreement"], "the line")
        assert values_of(status)["lidar agreement"] == ("not enough samples: 2 held-out LiDAR samples where the "
                                                        "output is valid, need 20 (guard.min_samples)")
        assert level_of(status) == OK
        assert "disagreeing 0" in values_of(status)["lidar guard"]


def test_monocular_with_align_to_sparse_is_guarded_on_held_out_samples(tmp_path: Path) -> None:
    """A learned monocular estimator (tiny Depth Pro) fitted to the LiDAR (align_to_sparse scale): the hold-out is
    kept from the fit and the aligned depth is compared with it; a LiDAR at 1/1.8 of the model's depth is fitted
    away (scale), so it agrees."""
    pytest.importorskip("transformers", reason="the estimators extra is not installed")
    from hf_scenes import H, W, gradient_rgb

    from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
    from lingbot_depth_ros.testing.depth_pro_marigold_checkpoints import build_tiny_depth_pro

    depth_pro = create_estimator("depth_pro", checkpoint=str(build_tiny_depth_pro(tmp_path / "depth_pro")),
                                 device="cpu")
    rgb = gradient_rgb()
    k = CameraIntrinsics(fx=64.0, fy=64.0, cx=31.5, cy=23.5, width=W, height=H)
    model = depth_pro.estimate(rgb, None, k).depth_m
    lidar = np.zeros((H, W), np.float32)
    lidar[::2, ::2] = model[::2, ::2] / np.float32(1.8)
    scene = {"rgb": rgb, "intrinsics": k}
    params = {**FAST, "mode": "monocular", "align_to_sparse": "scale"}
    with in_process_node(depth_pro, **params) as (_, harness):
        camera = Camera(harness, scene, lidar, 700)
        status = camera.feed_until_status(lambda s: values_of(s).get("lidar agreement", "").startswith("agree on"),
                                          "an agreeing frame")
        held = round(0.05 * np.count_nonzero(lidar))
        assert values_of(status)["lidar agreement"].startswith(f"agree on {held} held-out samples")
        assert abs(_scale(status) - 1) < 0.05

"""lingbot.target_hz in the node over real rclpy: an estimator whose time grows with its resolution level is
stepped down until it holds the rate, diagnostics show the level in use; 0 turns the governor off."""

from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from ros_harness import Recorder, in_process_node
from waiting import repeat_until

from lingbot_depth_ros.estimators import COMPLETION, MONOCULAR, create_estimator
from lingbot_depth_ros.estimators.base import DepthEstimate, DepthEstimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.synthetic.generator import SceneGenerator

pytestmark = pytest.mark.ros


class LevelTimedEstimator(DepthEstimator):
    """Constant 2 m depth after sleeping ``per_level_s * (level + 1)``: level 9 is 10x slower than level 0."""

    name = "level_timed"
    supported_modes = frozenset({COMPLETION, MONOCULAR})

    def __init__(self, level: int, per_level_s: float) -> None:
        self.resolution_level = level
        self.per_level_s = per_level_s
        self.levels_used: list[int] = []

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        self.levels_used.append(self.resolution_level)
        time.sleep(self.per_level_s * (self.resolution_level + 1))
        return DepthEstimate(np.full(rgb.shape[:2], 2.0, np.float32), np.ones(rgb.shape[:2], bool))


def pipeline_values(msg: DiagnosticArray) -> dict[str, str] | None:
    for status in msg.status:
        if status.name == "lingbot_depth_node: pipeline":
            return {kv.key: kv.value for kv in status.values}
    return None


def test_target_hz_steps_the_level_down_and_diagnostics_show_it() -> None:
    frame = SceneGenerator(width=64, height=48, seed=1).frame(0)
    # budget 1/8 Hz = 125 ms; level L takes 20 ms * (L + 1): level 4 (100 ms) fits, level 5 (120 ms) is at the edge
    estimator = LevelTimedEstimator(level=9, per_level_s=0.020)
    params = {"mode": "monocular", "lingbot.target_hz": 8.0, "lingbot.rate_window": 2,
              "diagnostics.period_s": 0.2, "cloud.enabled": False, "colorized.enabled": False}
    with in_process_node(estimator, **params) as (node, harness):
        diagnostics = Recorder()
        harness.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics, 10)
        stamp = 20_000_000_000_000

        def next_frame() -> None:
            nonlocal stamp
            stamp += 50_000_000
            harness.publish_frame(frame.rgb, frame.intrinsics, None, stamp)

        # 20 Hz of input (the estimator is the bottleneck) until the governor has stepped down to level 5
        repeat_until(next_frame, lambda: estimator.resolution_level <= 5, 40, "the level to step down to 5",
                     period_s=0.05, detail=lambda: estimator.levels_used)
        used = list(estimator.levels_used)
        assert used[0] == 9 and estimator.resolution_level <= 5, used
        # one level at a time, downwards only while too slow
        assert all(b in (a, a - 1) for a, b in zip(used, used[1:])), used
        level = estimator.resolution_level
        assert diagnostics.wait(lambda msgs: any((pipeline_values(m) or {}).get("resolution level") == str(level)
                                                 for m in msgs[-3:]), 10)
        values = [pipeline_values(m) for m in diagnostics.messages if pipeline_values(m)][-1]
        assert "target 8 Hz" in values["rate governor"] and "budget 125.0 ms" in values["rate governor"]

        # off: the level stays where it is, however slow
        node.set_parameters([Parameter("lingbot.target_hz", value=0.0)])
        assert node.governor is None
        estimator.resolution_level = 9
        before = len(estimator.levels_used)
        # 4 Hz: every frame is estimated (0.2 s at level 9), too slow for 8 Hz: 6 of them
        repeat_until(next_frame, lambda: len(estimator.levels_used) >= before + 6, 30, "6 frames at level 9",
                     period_s=0.25)
        assert set(estimator.levels_used[before:]) == {9}


def test_target_hz_needs_no_level_for_other_estimators() -> None:
    """An estimator without resolution levels (classical) runs as before: no governor, no diagnostics key."""
    with in_process_node(create_estimator("classical"), **{"lingbot.target_hz": 30.0}) as (node, _):
        assert node.governor is None

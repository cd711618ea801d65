"""Confidence-gated outputs, ROS-free (issue 20 §2): the gate, the gated cloud, and sectors / scan rays seen only
through gated pixels reading unknown (NaN), never clear (+Inf); a gate of 0 changes nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.batch.params import node_values
from lingbot_depth_ros.confidence.gating import NO_GATES, ObstacleGates, gate_depth
from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.navigation.scan import sector_scan
from lingbot_depth_ros.navigation.sectors import UNKNOWN, ObstacleSectorAnalyzer
from lingbot_depth_ros.params.navigation import (
    NAVIGATION_PARAMS_BY_NAME,
    camera_mounting_from_params,
    sector_config_from_params,
)
from lingbot_depth_ros.params.node import PARAMS_BY_NAME
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, FrameResult, OutputSettings
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator
from lingbot_depth_ros.synthetic.generator import SceneFrame


@pytest.fixture(scope="module")
def frame() -> SceneFrame:
    """A room seen from 1.2 m, 5 deg down: its centre sector is clear with nothing inside max range (+Inf)."""
    return SceneGenerator(320, 240, seed=5, camera_height_m=1.2, camera_pitch_deg=5.0,
                          lidar=LidarConfig.preset(32)).frame(0)


def _result(frame: SceneFrame, **settings: object) -> FrameResult:
    pipeline = DepthPipeline(create_estimator("classical"), OutputSettings(confidence=True, **settings))
    return pipeline.process(frame.rgb, frame.sparse_depth_m, frame.intrinsics)


def test_gate_removes_pixels_below_the_minimum_and_nan_confidence() -> None:
    depth = np.array([[1.0, 2.0, 3.0, np.nan]], np.float32)
    confidence = np.array([[0.2, 0.5, np.nan, np.nan]], np.float32)
    assert gate_depth(depth, confidence, 0.0) is depth and gate_depth(depth, None, 0.9) is depth
    gated = gate_depth(depth, confidence, 0.5)
    assert gated.dtype == np.float32 and np.array_equal(gated, [[np.nan, 2.0, np.nan, np.nan]], equal_nan=True)


def test_gate_parameters_are_0_to_1_and_off_by_default() -> None:
    for name in ("confidence.points_min", "confidence.scan_min", "confidence.sectors_min"):
        spec = PARAMS_BY_NAME[name]
        assert (spec.default, spec.min, spec.max, spec.read_only) == (0.0, 0.0, 1.0, False)
        with pytest.raises(ConfigError, match=name.replace(".", r"\.") + r"=1\.5 is above its maximum 1\.0"):
            node_values([f"{name}=1.5"])  # the batch checks them as the node does, with the reason
    values = {"confidence.enabled": False, "confidence.scan_min": 0.7, "confidence.sectors_min": 0.8}
    assert ObstacleGates.from_params(values) == NO_GATES  # nothing to gate on
    assert ObstacleGates.from_params(dict(values, **{"confidence.enabled": True})) == ObstacleGates(0.7, 0.8)


def test_gated_cloud_leaves_out_low_confidence_pixels_and_gate_0_changes_nothing(frame: SceneFrame) -> None:
    plain = DepthPipeline(create_estimator("classical"), OutputSettings(cloud_stride=1)).process(
        frame.rgb, frame.sparse_depth_m, frame.intrinsics)
    ungated = _result(frame, cloud_stride=1)
    assert np.array_equal(ungated.cloud.xyz, plain.cloud.xyz, equal_nan=True)  # default outputs unchanged
    assert np.array_equal(ungated.depth_m, plain.depth_m, equal_nan=True)
    gated = _result(frame, cloud_stride=1, confidence_points_min=0.9)
    low = ungated.confidence < 0.9
    assert low.any() and (~low & np.isfinite(ungated.confidence)).any()
    z = gated.cloud.xyz[..., 2]
    assert np.array_equal(np.isnan(z), np.isnan(ungated.depth_m) | low)
    assert np.array_equal(gated.depth_m, ungated.depth_m, equal_nan=True)  # depth/image itself is never gated


def test_sectors_and_rays_seen_only_through_gated_pixels_are_unknown(frame: SceneFrame) -> None:
    values = {name: spec.default for name, spec in NAVIGATION_PARAMS_BY_NAME.items()}
    values.update({"obstacles.camera.height_m": 1.2, "obstacles.camera.pitch_rad": math.radians(5.0)})
    config, pose = sector_config_from_params(values), camera_mounting_from_params(values)
    result = _result(frame)

    def analyse(depth: np.ndarray) -> tuple[list[str], np.ndarray]:
        report = ObstacleSectorAnalyzer(config).analyze_depth(depth, frame.intrinsics, pose)
        return [s.status for s in report.sectors], sector_scan(report, config).ranges

    statuses, ranges = analyse(result.depth_m)
    assert UNKNOWN not in statuses and np.isposinf(ranges).any()  # clear, with a free (+Inf) ray
    statuses, ranges = analyse(gate_depth(result.depth_m, result.confidence, 1.0))  # every pixel below 1
    assert statuses == [UNKNOWN] * len(statuses) and np.isnan(ranges).all()
    left_low = result.confidence.copy()
    left_low[:, :130] = 0.05  # every pixel of the left sector is doubtful (and some of the centre's)
    statuses, ranges = analyse(gate_depth(result.depth_m, left_low, 0.5))
    assert statuses[0] == UNKNOWN and UNKNOWN not in statuses[1:]
    assert np.isnan(ranges[-1]) and np.isposinf(ranges[1])  # rays right to left: the centre is still free

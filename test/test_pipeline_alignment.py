"""align_to_sparse in the per-frame pipeline: a badly scaled prediction is fitted to the LiDAR."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from lingbot_depth_ros.estimators.base import DepthEstimate, DepthEstimator
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.synthetic.generator import SceneGenerator


class RelativeDepthEstimator(DepthEstimator):
    """Monocular stand-in with a known affine error: returns 0.4 * depth_gt + 0.7 (like a relative model)."""

    name: ClassVar[str] = "relative"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"monocular", "completion"})

    def __init__(self, depth_gt_m: np.ndarray) -> None:
        self.depth_gt_m = depth_gt_m
        self.calls: list[bool] = []

    def _estimate(self, rgb, sparse_depth_m, intrinsics) -> DepthEstimate:
        self.calls.append(sparse_depth_m is not None)
        return DepthEstimate(depth_m=(0.4 * self.depth_gt_m + 0.7).astype(np.float32),
                             valid=np.ones(self.depth_gt_m.shape, bool))


@pytest.fixture(scope="module")
def frame():
    return next(SceneGenerator(320, 240, seed=2).frames(1))


@pytest.mark.parametrize("method", ["ransac", "irls"])
def test_scale_shift_recovered_despite_outliers(frame, method: str) -> None:
    sparse = frame.sparse_depth_m.copy()
    hits = np.flatnonzero(sparse > 0)
    rng = np.random.default_rng(0)
    bad = rng.choice(hits, size=len(hits) // 4, replace=False)  # 25 % LiDAR points disagree (occlusion edges)
    sparse.flat[bad] *= rng.uniform(1.5, 3.0, size=bad.size)
    estimator = RelativeDepthEstimator(frame.depth_gt_m)
    settings = OutputSettings(align="scale_shift", align_method=method, cloud=False, colorized=False)
    result = DepthPipeline(estimator, settings).process(frame.rgb, None, frame.intrinsics, align_depth_m=sparse)
    assert estimator.calls == [False]  # monocular: the sparse depth was not given to the estimator
    assert result.alignment.scale == pytest.approx(2.5, rel=0.01)
    assert result.alignment.shift == pytest.approx(-1.75, abs=0.03)
    assert 0.7 < result.alignment.inlier_ratio < 0.8
    np.testing.assert_allclose(result.depth_m, frame.depth_gt_m, rtol=0.01, atol=0.02)


def test_scale_only_and_off(frame) -> None:
    estimator = RelativeDepthEstimator(frame.depth_gt_m)
    off = DepthPipeline(estimator, OutputSettings(cloud=False, colorized=False)).process(
        frame.rgb, None, frame.intrinsics, align_depth_m=frame.sparse_depth_m)
    assert off.alignment is None
    np.testing.assert_allclose(off.depth_m, 0.4 * frame.depth_gt_m + 0.7, rtol=1e-6)
    scaled = DepthPipeline(estimator, OutputSettings(align="scale", cloud=False, colorized=False)).process(
        frame.rgb, None, frame.intrinsics, align_depth_m=frame.sparse_depth_m)
    assert scaled.alignment.shift == 0.0 and scaled.alignment.scale > 1.0


def test_too_few_points_publishes_unaligned_with_a_reason(frame) -> None:
    sparse = np.zeros_like(frame.sparse_depth_m)
    sparse[10, 10:13] = 2.0
    result = DepthPipeline(RelativeDepthEstimator(frame.depth_gt_m),
                           OutputSettings(align="scale_shift", cloud=False, colorized=False)).process(
        frame.rgb, None, frame.intrinsics, align_depth_m=sparse)
    assert result.alignment is None and "point" in result.alignment_error
    np.testing.assert_allclose(result.depth_m, 0.4 * frame.depth_gt_m + 0.7, rtol=1e-6)


def test_node_monocular_aligned_to_lidar_over_rclpy(frame) -> None:
    """mode monocular + align_to_sparse over real topics: sparse depth only fits the scale, output is metric."""
    from ros_harness import in_process_node

    from lingbot_depth_ros.ros.image_codec import depth_m_from_image

    estimator = RelativeDepthEstimator(frame.depth_gt_m)
    with in_process_node(estimator, mode="monocular", align_to_sparse="scale_shift") as (
            node, harness):
        stamp = 7_000_000_000
        harness.publish_frame(frame.rgb, frame.intrinsics, frame.sparse_depth_m, stamp)
        rec = harness.recorders["depth/image"]
        assert rec.wait(lambda m: rec.by_stamp(stamp) is not None, 20)
        depth = depth_m_from_image(rec.by_stamp(stamp))
        alignment = node.channels[0].last_alignment
        assert alignment is not None and alignment.scale == pytest.approx(2.5, rel=0.01)
    assert estimator.calls == [False]
    np.testing.assert_allclose(depth, frame.depth_gt_m, rtol=0.01, atol=0.02)

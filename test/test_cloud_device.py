"""The cloud made on the model's device (issue 15 §3): equal to the host (numpy) cloud, only it is downloaded.

Runs the torch code on the CPU: the same code runs on CUDA. The host path is finalize_depth followed by
geometry.pointcloud.depth_to_cloud_points; the device path is model.device_cloud (and through the
lingbot estimator, DepthModel.infer_published_cloud, counted in the transfers counter).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import depth_to_cloud_points
from lingbot_depth_ros.model.device_cloud import CloudRequest, cloud_xyz, published_depth
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings, finalize_depth
from lingbot_depth_ros.synthetic.generator import SceneGenerator
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

W, H = 97, 61  # odd sizes: strides that do not divide them


def awkward_depth(seed: int) -> np.ndarray:
    """(H, W) float32 [m] with NaN, +-inf, zeros, negatives and values past every limit."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.05, 30.0, (H, W)).astype(np.float32)
    for value, fraction in ((np.nan, 0.05), (np.inf, 0.02), (-np.inf, 0.01), (0.0, 0.03), (-1.0, 0.02)):
        depth[rng.random((H, W)) < fraction] = value
    return depth


def host_cloud(depth: np.ndarray, intrinsics: CameraIntrinsics, request: CloudRequest) -> tuple[np.ndarray, np.ndarray]:
    published = finalize_depth(depth, np.isfinite(depth), request.depth_min_m, request.depth_max_m)
    cloud = depth_to_cloud_points(published, intrinsics, stride=request.stride, min_range_m=request.min_range_m,
                                  max_range_m=request.max_range_m, organized=request.organized)
    return published, cloud.xyz


@pytest.mark.parametrize("organized", [True, False])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("limits", [(0.0, 100.0, 0.0, math.inf), (0.3, 12.0, 0.5, 8.0), (0.0, 100.0, 0.1, 20.0)])
def test_device_cloud_equals_the_host_cloud(organized: bool, stride: int, limits: tuple) -> None:
    depth_min, depth_max, range_min, range_max = limits
    request = CloudRequest(depth_min_m=depth_min, depth_max_m=depth_max, stride=stride, min_range_m=range_min,
                           max_range_m=range_max, organized=organized)
    intrinsics = [CameraIntrinsics(fx=83.7, fy=81.2, cx=47.3, cy=29.9, width=W, height=H),
                  CameraIntrinsics(fx=120.0, fy=120.0, cx=10.0, cy=55.5, width=W, height=H)]
    depths = [awkward_depth(1), awkward_depth(2)]
    dev_depth = published_depth(torch.from_numpy(np.stack(depths)), torch.from_numpy(np.isfinite(np.stack(depths))),
                                depth_min, depth_max)
    k = torch.tensor(np.stack([i.matrix() for i in intrinsics]), dtype=torch.float32)
    xyz, keep = cloud_xyz(dev_depth, k, request)
    for b in range(2):
        published, expected = host_cloud(depths[b], intrinsics[b], request)
        np.testing.assert_array_equal(dev_depth[b].numpy(), published)  # NaN in the same places, same values
        got = xyz[b].numpy() if organized else xyz[b][keep[b]].numpy()
        assert got.shape == expected.shape
        assert np.array_equal(np.isnan(got), np.isnan(expected))  # all three NaN together, same points
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6, equal_nan=True)
        assert 0 < int(keep[b].sum()) < keep[b].numel()  # the case exercises both kept and dropped points


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    checkpoint = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model.pt", seed=0)
    return create_estimator("lingbot", checkpoint=str(checkpoint), device="cpu", resolution_level=0)


@pytest.mark.parametrize("organized, stride, rgb", [(True, 2, True), (False, 1, True), (False, 3, False)])
def test_lingbot_pipeline_cloud_comes_from_the_device_and_equals_the_host_cloud(estimator, organized, stride,
                                                                                 rgb) -> None:
    frame = SceneGenerator(width=160, height=120, seed=5).frame(0)
    settings = OutputSettings(colorized=False, cloud=True, cloud_organized=organized, cloud_rgb=rgb,
                              cloud_stride=stride, cloud_min_range_m=0.5, cloud_max_range_m=6.0, depth_max_m=8.0)
    pipeline = DepthPipeline(estimator, settings)
    request = pipeline.device_cloud_request(settings)
    assert request is not None and request.stride == stride and request.organized == organized
    transfers = estimator.model.transfers
    transfers.reset()
    result = pipeline.process(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
    # downloaded: the published depth (4 B/px) and the cloud xyz (12 B per point; organized: per grid point),
    # plus the kept-point mask (1 B per grid point) when an unorganized cloud carries colours
    h, w = -(-120 // stride), -(-160 // stride)
    points = h * w if organized else len(result.cloud.xyz)
    expected_bytes = 160 * 120 * 4 + points * 12 + (h * w if rgb and not organized else 0)
    assert transfers.device_to_host_bytes == expected_bytes
    # the same frame through the host path: the cloud of the published depth
    host = DepthPipeline.cloud(result.depth_m, frame.rgb, frame.intrinsics, settings)
    assert result.cloud.xyz.shape == host.xyz.shape and 0 < np.isfinite(host.xyz[..., 2]).sum()
    assert np.array_equal(np.isnan(result.cloud.xyz), np.isnan(host.xyz))
    np.testing.assert_allclose(result.cloud.xyz, host.xyz, rtol=0, atol=1e-6, equal_nan=True)
    if rgb:
        np.testing.assert_array_equal(result.cloud.rgb, host.rgb)
    else:
        assert result.cloud.rgb is None and host.rgb is None
    # the published depth is the one the host path would publish from the same estimate
    assert np.nanmax(result.depth_m) <= 8.0


def test_host_path_when_aligned_or_cloud_off_or_another_estimator(estimator) -> None:
    assert DepthPipeline(estimator).device_cloud_request(OutputSettings(cloud=False)) is None
    assert DepthPipeline(estimator).device_cloud_request(OutputSettings(align="scale")) is None  # rescaled on host
    assert DepthPipeline(create_estimator("classical")).device_cloud_request(OutputSettings()) is None
    frame = SceneGenerator(width=160, height=120, seed=5).frame(0)
    transfers = estimator.model.transfers
    transfers.reset()
    DepthPipeline(estimator, OutputSettings(cloud=False)).process(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
    assert transfers.device_to_host_bytes == 160 * 120 * 4  # the depth alone

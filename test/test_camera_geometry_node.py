"""Through the real node over rclpy: K != P rectified, binned and ROI cameras give a cloud that the published
depth/camera_info P reprojects onto its own pixels (within 0.01 px), and diagnostics name the matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ros_harness import in_process_node
from sensor_msgs.msg import CameraInfo, RegionOfInterest
from waiting import repeat_until

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_to_xyz
from lingbot_depth_ros.ros.diagnostics import StatusWrapper
from lingbot_depth_ros.ros.image_codec import depth_m_from_image

pytestmark = pytest.mark.ros
STRIDE = 2
W, H = 320, 240


def camera(k: list[float], p: list[float], width: int, height: int, binning: int = 0,
           roi: tuple[int, int, int, int] = (0, 0, 0, 0)) -> CameraInfo:
    fx, fy, cx, cy = k
    pfx, pfy, pcx, pcy = p
    return CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5,
                      k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0], r=np.eye(3).reshape(-1).tolist(),
                      p=[pfx, 0.0, pcx, 0.0, 0.0, pfy, pcy, 0.0, 0.0, 0.0, 1.0, 0.0], binning_x=binning,
                      binning_y=binning, roi=RegionOfInterest(x_offset=roi[0], y_offset=roi[1], width=roi[2],
                                                              height=roi[3]))


CAMERAS = {
    # a rectified camera whose P differs from K (focal 20 % shorter, principal point moved)
    "k_ne_p": camera([300.0, 302.0, 158.0, 121.0], [240.0, 240.0, 163.5, 117.0], W, H),
    # 320x240 image of a 640x480 camera binned 2x2
    "binned": camera([600.0, 604.0, 318.0, 242.0], [500.0, 500.0, 326.0, 236.0], 640, 480, binning=2),
    # 320x240 ROI at (100, 80) of a 640x480 camera
    "roi": camera([600.0, 604.0, 318.0, 242.0], [500.0, 500.0, 326.0, 236.0], 640, 480, roi=(100, 80, W, H)),
}


def frame() -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) RGB and (H, W) sparse depth [m] (a tilted plane sampled on a grid, mm-exact)."""
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    v, u = np.mgrid[0:H, 0:W]
    plane = (2.0 + 0.004 * u + 0.002 * v).astype(np.float32)
    sparse = np.zeros((H, W), np.float32)
    sparse[::6, ::6] = np.round(plane[::6, ::6] * 1000) / 1000
    return rgb, sparse


def run_camera(node: Any, harness: Any, info: CameraInfo, stamp: int) -> tuple[np.ndarray, np.ndarray, CameraInfo]:
    """Publish the frame (stamp, stamp + 1 ns, ...: a best-effort message can be lost under load) until one stamp
    has all three outputs; those outputs."""
    rgb, sparse = frame()
    topics = ("points", "depth/camera_info", "depth/image")
    sent: list[int] = []

    def answered() -> int | None:
        return next((s for s in sent if all(harness.recorders[t].by_stamp(s) is not None for t in topics)), None)

    def send() -> None:
        sent.append(stamp + len(sent))
        harness.publish_frame(rgb, None, sparse, sent[-1], info=info)

    repeat_until(send, lambda: answered() is not None, 60, "points, depth/camera_info and depth/image of one stamp",
                 period_s=5.0, detail=lambda: f"last warning: {node.channels[0].last_warning}")
    out = {topic: harness.recorders[topic].by_stamp(answered()) for topic in topics}
    cloud = out["points"]
    assert (cloud.height, cloud.width) == ((H + STRIDE - 1) // STRIDE, (W + STRIDE - 1) // STRIDE)
    xyz = pointcloud2_to_xyz(cloud, skip_nans=False).astype(np.float64)
    return xyz, depth_m_from_image(out["depth/image"]), out["depth/camera_info"]


def reprojection_error_px(xyz: np.ndarray, depth: np.ndarray, published: CameraInfo) -> tuple[float, int]:
    p = np.asarray(published.p).reshape(3, 4)
    rows, cols = np.mgrid[0:H:STRIDE, 0:W:STRIDE]
    valid = np.isfinite(xyz).all(axis=1)
    x, y, z = xyz[valid].T
    u = p[0, 0] * x / z + p[0, 2]
    v = p[1, 1] * y / z + p[1, 2]
    expected_u, expected_v = cols.ravel()[valid], rows.ravel()[valid]
    np.testing.assert_allclose(z, depth[expected_v, expected_u], rtol=1e-6)  # the point is that pixel's depth
    return float(np.max(np.hypot(u - expected_u, v - expected_v))), int(valid.sum())


@pytest.mark.parametrize("rectified", [True, False])
def test_cloud_reprojects_with_the_published_p(rectified: bool) -> None:
    params = {"mode": "completion", "camera.rectified": rectified, "cloud.stride": STRIDE, "cloud.organized": True,
              "cloud.max_range_m": 100.0, "obstacles.enabled": False}
    with in_process_node(create_estimator("classical"), **params) as (node, harness):
        for index, (name, info) in enumerate(CAMERAS.items()):
            xyz, depth, published = run_camera(node, harness, info, 1_000_000_000 * (index + 1))
            error, count = reprojection_error_px(xyz, depth, published)
            assert count > 0.5 * (H // STRIDE) * (W // STRIDE), f"{name}: only {count} cloud points"
            assert error < 0.01, f"{name} (rectified={rectified}): reprojection error {error:.4f} px"
            # published CameraInfo describes the 320x240 output image on its own
            assert (published.width, published.height, published.binning_x, published.roi.width) == (W, H, 0, 0)
            full = np.asarray(info.p if rectified else info.k, float)
            fx_full = full[0]
            expected_fx = fx_full / (2 if name == "binned" else 1)
            assert published.p[0] == pytest.approx(expected_fx)
            assert node.channels[0].intrinsics_matrix == ("P (rectified)" if rectified else "K")
        stat = StatusWrapper("pipeline", "test")
        node.channels[0].diagnose(stat)
        values = {kv.key: kv.value for kv in stat.to_msg().values}
        assert values["intrinsics"] == ("P (rectified)" if rectified else "K")

"""LiDAR / 3D point projection into a sparse depth image, against hand-computed geometry and OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.lidar_projection import (
    Distortion,
    ProjectionCounts,
    lidar_to_sparse_depth,
    lidar_to_sparse_depth_counted,
    project_points,
    project_points_to_depth,
    project_points_to_depth_counted,
)
from lingbot_depth_ros.geometry.transforms import BODY_R_OPTICAL, RigidTransform

K = CameraIntrinsics(fx=500.0, fy=400.0, cx=320.0, cy=240.0, width=640, height=480)


def test_single_point_lands_on_hand_computed_pixel() -> None:
    # u = 500 * 0.5 / 2 + 320 = 445, v = 400 * (-0.25) / 2 + 240 = 190.
    depth = project_points_to_depth(np.array([[0.5, -0.25, 2.0]]), K)
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    assert depth[190, 445] == pytest.approx(2.0)
    assert np.count_nonzero(depth) == 1


def test_rounding_to_nearest_pixel_centre() -> None:
    # u = 320 + 500 * x / z; x/z = 0.0009 -> u = 320.45 -> column 320; x/z = 0.0011 -> 320.55 -> 321.
    depth = project_points_to_depth(np.array([[0.0009, 0.0, 1.0], [0.0022, 0.0, 2.0]]), K)
    assert depth[240, 320] == pytest.approx(1.0) and depth[240, 321] == pytest.approx(2.0)


def test_nearest_point_wins_regardless_of_order() -> None:
    ray = np.array([0.1, 0.05, 1.0])
    pts = np.stack([ray * 3.0, ray * 1.5, ray * 4.0])
    for order in ([0, 1, 2], [1, 2, 0], [2, 0, 1]):
        depth = project_points_to_depth(pts[order], K)
        assert np.count_nonzero(depth) == 1
        assert depth[depth > 0][0] == pytest.approx(1.5)


def test_drops_points_behind_outside_too_close_too_far_and_nan() -> None:
    pts = np.array([
        [0.0, 0.0, -2.0],     # behind the camera
        [5.0, 0.0, 1.0],      # u = 2820: outside the image
        [0.0, 0.0, 0.03],     # closer than min_depth_m
        [0.0, 0.0, 50.0],     # beyond max_depth_m
        [np.nan, 0.0, 1.0],   # invalid return
        [0.0, 0.0, 2.5],      # the only keeper, at the principal point
    ])
    depth = project_points_to_depth(pts, K, min_depth_m=0.05, max_depth_m=40.0)
    assert np.count_nonzero(depth) == 1 and depth[240, 320] == pytest.approx(2.5)


def test_lidar_frame_points_through_extrinsics() -> None:
    # LiDAR (x fwd, y left, z up) 0.1 m above the camera, sharing its orientation (camera body frame).
    cam_body_t_lidar = RigidTransform.from_xyz_rpy(0.0, 0.0, 0.1)
    optical_t_body = RigidTransform(BODY_R_OPTICAL, np.zeros(3)).inverse()
    optical_t_lidar = optical_t_body @ cam_body_t_lidar
    # 4 m ahead, 1 m left, at LiDAR height: optical (x, y, z) = (-1, -0.1, 4).
    depth = lidar_to_sparse_depth(np.array([[4.0, 1.0, 0.0]]), optical_t_lidar, K)
    row, col = 240 - 400 * 0.1 / 4, 320 - 500 * 1.0 / 4
    assert depth[int(row), int(col)] == pytest.approx(4.0)
    assert np.count_nonzero(depth) == 1


@pytest.mark.parametrize("model,coeffs", [
    ("plumb_bob", (-0.28, 0.07, 0.001, -0.0005, 0.0)),
    ("plumb_bob", (0.1, -0.05, 0.002, 0.001)),
    ("rational_polynomial", (0.5, -0.1, 0.001, 0.002, 0.01, 0.6, -0.05, 0.02)),
])
def test_distortion_matches_opencv(model: str, coeffs: tuple[float, ...]) -> None:
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(-0.5, 0.5, 500), rng.uniform(-0.4, 0.4, 500), rng.uniform(1.0, 3.0, 500)])
    u, v, ok = project_points(pts, K, (list(coeffs), model))
    assert ok.all()
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K.matrix(), np.asarray(coeffs))
    np.testing.assert_allclose(np.column_stack([u, v]), ref.reshape(-1, 2), atol=1e-6)


def test_fisheye_matches_opencv() -> None:
    coeffs = (0.05, -0.01, 0.002, -0.0003)
    rng = np.random.default_rng(2)
    pts = np.column_stack([rng.uniform(-2, 2, 300), rng.uniform(-1.5, 1.5, 300), rng.uniform(0.5, 3.0, 300)])
    u, v, ok = project_points(pts, K, Distortion("equidistant", coeffs))
    assert ok.all()
    ref, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K.matrix(),
                                       np.asarray(coeffs))
    np.testing.assert_allclose(np.column_stack([u, v]), ref.reshape(-1, 2), atol=1e-6)


def test_folded_back_points_beyond_valid_radius_are_dropped() -> None:
    # k1 = -0.3: r (1 + k1 r^2) peaks at r = 1/sqrt(0.9) = 1.054. A point at r = 1.5 (56 deg off-axis, far
    # outside a 64 deg-wide image) would fold back to r_d = 0.49, i.e. u = 564 inside the image.
    dist = Distortion("plumb_bob", (-0.3, 0.0, 0.0, 0.0, 0.0))
    far = np.array([[1.5, 0.0, 1.0]])
    u, _, ok = project_points(far, K, dist)
    assert 0 <= u[0] < 640  # the raw formula really does fold it into the image...
    assert not ok[0]        # ...so it must be rejected
    assert np.count_nonzero(project_points_to_depth(far, K, dist)) == 0
    near = np.array([[0.3, 0.0, 1.0]])
    assert np.count_nonzero(project_points_to_depth(near, K, dist)) == 1


def test_distortion_input_validation() -> None:
    assert Distortion.from_camera_info([0.0] * 5, "plumb_bob") is None
    assert Distortion.from_camera_info([], "") is None
    with pytest.raises(InputError, match="unsupported distortion model"):
        Distortion.from_camera_info([0.1, 0, 0, 0, 0], "kannala_brandt_weird")
    with pytest.raises(InputError, match="needs 4 or 5"):
        Distortion("plumb_bob", (0.1, 0.2))
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        project_points_to_depth(np.zeros((4, 2)), K)
    with pytest.raises(InputError, match="min_depth_m"):
        project_points_to_depth(np.zeros((1, 3)), K, min_depth_m=2.0, max_depth_m=1.0)


def test_empty_cloud_gives_empty_depth() -> None:
    depth = project_points_to_depth(np.zeros((0, 3)), K)
    assert depth.shape == (480, 640) and not depth.any()


def test_float32_cloud_gives_the_same_image_as_float64() -> None:
    rng = np.random.default_rng(4)
    pts = np.column_stack([rng.uniform(-3, 3, 2000), rng.uniform(-2, 2, 2000), rng.uniform(0.5, 8, 2000)])
    pts32 = pts.astype(np.float32)
    d64 = project_points_to_depth(pts32.astype(np.float64), K)
    d32 = project_points_to_depth(pts32, K)
    assert np.count_nonzero(d64) > 1000
    # Identical except where a point sits within float32 rounding of a pixel border.
    assert np.count_nonzero(d64 != d32) <= 4


def test_projection_model_from_camera_info_fields() -> None:
    from lingbot_depth_ros.geometry.lidar_projection import projection_model
    k = [500.0, 0, 320.0, 0, 400.0, 240.0, 0, 0, 1]
    p = [480.0, 0, 310.0, 0, 0, 470.0, 230.0, 0, 0, 0, 1, 0]
    d = [-0.2, 0.05, 0.0, 0.0, 0.0]
    raw_k, raw_d = projection_model(k, d, "plumb_bob", p, 640, 480, rectified=False)
    assert (raw_k.fx, raw_k.cy) == (500.0, 240.0) and raw_d == Distortion("plumb_bob", tuple(d))
    rect_k, rect_d = projection_model(k, d, "plumb_bob", p, 640, 480, rectified=True)
    assert (rect_k.fx, rect_k.fy, rect_k.cx, rect_k.cy) == (480.0, 470.0, 310.0, 230.0) and rect_d is None
    assert projection_model(k, d, "plumb_bob", [0.0] * 12, 640, 480, rectified=True)[0].fx == 500.0
    with pytest.raises(InputError, match="unsupported distortion model"):
        projection_model(k, d, "fov", p, 640, 480, rectified=False)


def test_every_dropped_point_is_counted_under_its_first_failing_reason() -> None:
    pts = np.array([
        [0.0, 0.0, -2.0],     # behind the camera
        [0.0, 0.0, 0.0],      # on the camera plane: behind too
        [5.0, 0.0, 1.0],      # outside the image
        [0.0, 0.0, 0.03],     # closer than min_depth_m
        [0.0, 0.0, 50.0],     # beyond max_depth_m
        [0.0, 0.0, 60.0],     # beyond max_depth_m
        [np.nan, 0.0, 1.0],   # invalid return
        [0.0, 0.0, np.inf],   # invalid return (not "too far")
        [0.0, 0.0, 2.5],      # kept
        [0.0, 0.0, 3.0],      # kept (same pixel: still counted as in the image)
    ])
    depth, counts = project_points_to_depth_counted(pts, K, min_depth_m=0.05, max_depth_m=40.0)
    assert np.count_nonzero(depth) == 1 and depth[240, 320] == pytest.approx(2.5)
    assert counts == ProjectionCounts(total=10, non_finite=2, behind=2, too_close=1, too_far=2, outside_image=1,
                                      in_image=2, median_far_z_m=55.0)


def test_a_millimetre_cloud_is_counted_as_too_far_not_outside_the_image() -> None:
    # A LiDAR cloud in millimetres straight ahead of the camera: every point in view, every one beyond 100 m.
    rng = np.random.default_rng(0)
    metres = np.column_stack([rng.uniform(-2, 2, 500), rng.uniform(-1, 1, 500), rng.uniform(3, 40, 500)])
    _, counts = lidar_to_sparse_depth_counted(metres * 1000.0, RigidTransform.identity(), K, max_depth_m=100.0)
    assert (counts.total, counts.too_far, counts.in_image, counts.outside_image) == (500, 500, 0, 0)
    assert counts.median_far_z_m > 1000.0
    _, counts = lidar_to_sparse_depth_counted(metres, RigidTransform.identity(), K, max_depth_m=100.0)
    assert counts.in_image == 500

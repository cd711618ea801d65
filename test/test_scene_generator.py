"""Procedural scene: analytic geometry, LiDAR beams, projection, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator
from lingbot_depth_ros.synthetic.generator import camera_pose
from lingbot_depth_ros.synthetic.lidar import project_to_sparse_depth, transform_points
from lingbot_depth_ros.synthetic.raycast import CEILING, FIRST_BOX_ID, FLOOR, WALL_FRONT, WALL_LEFT, Box, cast_rays


def test_floor_depth_matches_the_analytic_formula() -> None:
    gen = SceneGenerator(width=320, height=240, seed=3, n_boxes=0)
    height_m, pitch = 1.1, math.radians(12.0)
    pose = camera_pose((0.5, 0.0, height_m), yaw_rad=0.0, pitch_rad=pitch)
    frame = gen.render(pose)
    surface = gen.surface_ids(pose)
    floor = surface == FLOOR
    assert floor[-1, gen.width // 2], "the bottom centre pixel must see the floor"
    assert floor.mean() > 0.2
    k = gen.intrinsics
    v = np.arange(gen.height, dtype=np.float64)[:, None] * np.ones((1, gen.width))
    y_n = (v - k.cy) / k.fy
    # A ray (x_n, y_n, 1) of a camera pitched down by `pitch` drops by (y_n cos + sin) per metre of depth.
    expected = height_m / (y_n * math.cos(pitch) + math.sin(pitch))
    np.testing.assert_allclose(frame.depth_gt_m[floor], expected[floor], rtol=2e-4)


def test_front_wall_depth_on_the_optical_axis() -> None:
    gen = SceneGenerator(width=161, height=121, seed=1, n_boxes=0)
    x0 = 0.7
    pose = camera_pose((x0, 0.0, 1.2), yaw_rad=0.0, pitch_rad=0.0)
    frame = gen.render(pose)
    centre = (gen.height // 2, gen.width // 2)
    assert gen.surface_ids(pose)[centre] == WALL_FRONT
    assert frame.depth_gt_m[centre] == pytest.approx(float(gen.layout.room_max[0]) - x0, rel=1e-5)


def test_box_in_front_of_the_camera_is_hit_at_its_face() -> None:
    rays = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.5], [0.0, 1.0, 0.0]], dtype=np.float32)
    box = Box(lo=(3.0, -0.5, 0.0), hi=(4.0, 0.5, 1.0))
    hits = cast_rays(np.array([0.0, 0.0, 0.5]), rays, np.array([-5.0, -5.0, 0.0]), np.array([10.0, 5.0, 3.0]),
                     [box])
    # ray 0 meets the box face x = 3; ray 1 climbs over the box (z = 2 at x = 3) to the ceiling z = 3;
    # ray 2 goes sideways to the left wall y = 5.
    np.testing.assert_allclose(hits.t, [3.0, 5.0, 5.0], rtol=1e-6)
    assert hits.surface.tolist() == [FIRST_BOX_ID, CEILING, WALL_LEFT]
    np.testing.assert_array_equal(hits.normals(), [[-1, 0, 0], [0, 0, -1], [0, -1, 0]])


@pytest.mark.parametrize("beams", [16, 32, 64])
def test_lidar_rings_have_the_configured_elevations(beams: int) -> None:
    config = LidarConfig.preset(beams, horizontal_resolution_deg=1.0)
    gen = SceneGenerator(width=160, height=120, seed=2, lidar=config)
    frame = gen.frame(0)
    points = frame.lidar_points_lidar
    assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 3
    assert set(np.unique(frame.lidar_ring).tolist()) == set(range(beams))
    elevation = np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))
    np.testing.assert_allclose(elevation, config.vertical_angles_deg()[frame.lidar_ring], atol=1e-3)
    ranges = np.linalg.norm(points, axis=1)
    assert ranges.min() >= config.min_range_m - 0.1 and ranges.max() <= config.max_range_m + 0.1


def test_sparse_depth_is_the_lidar_seen_by_the_camera() -> None:
    gen = SceneGenerator(width=320, height=240, seed=0)
    frame = gen.frame(3)
    sparse, gt = frame.sparse_depth_m, frame.depth_gt_m
    valid = sparse > 0
    assert sparse.dtype == np.float32 and sparse.shape == (240, 320)
    assert 0.005 < valid.mean() < 0.2
    # 1 cm range noise, pixel rounding and parallax at edges: most samples agree with the truth closely.
    error = np.abs(sparse[valid] - gt[valid])
    assert np.median(error) < 0.02
    assert np.mean(error < 0.1) > 0.95
    again = project_to_sparse_depth(transform_points(frame.lidar_points_lidar, frame.camera_from_lidar),
                                    frame.intrinsics)
    np.testing.assert_array_equal(again, sparse)


def test_rgb_edges_follow_depth_edges() -> None:
    gen = SceneGenerator(width=320, height=240, seed=5)
    frame = gen.frame(0)
    depth = frame.depth_gt_m
    rgb = frame.rgb.astype(np.int16)
    surface = gen.surface_ids(frame.camera_pose)
    # Occlusion boundaries: the surface changes and the depth jumps (grazing walls change fast too,
    # but continuously, and are not edges).
    depth_edge = (np.abs(np.diff(depth, axis=1)) > 0.3) & (np.diff(surface, axis=1) != 0)
    colour_step = np.abs(np.diff(rgb, axis=1)).sum(axis=2)
    assert depth_edge.sum() > 50
    assert np.mean(colour_step[depth_edge] > 20) > 0.8


def test_frames_are_deterministic_and_seed_dependent() -> None:
    a = list(SceneGenerator(width=96, height=72, seed=7).frames(3))
    b = list(SceneGenerator(width=96, height=72, seed=7).frames(3))
    c = next(SceneGenerator(width=96, height=72, seed=8).frames(1))
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa.rgb, fb.rgb)
        np.testing.assert_array_equal(fa.depth_gt_m, fb.depth_gt_m)
        np.testing.assert_array_equal(fa.sparse_depth_m, fb.sparse_depth_m)
        np.testing.assert_array_equal(fa.lidar_points_lidar, fb.lidar_points_lidar)
        assert fa.stamp_ns == fb.stamp_ns
    assert not np.array_equal(a[0].rgb, c.rgb)
    assert [f.stamp_ns - a[0].stamp_ns for f in a] == [0, 100_000_000, 200_000_000]
    assert not np.allclose(a[0].camera_pose, a[2].camera_pose)  # the camera moves


def test_bad_arguments_raise_input_errors() -> None:
    with pytest.raises(InputError, match="at least 8x8"):
        SceneGenerator(width=4, height=4)
    with pytest.raises(InputError, match="n_beams"):
        LidarConfig(n_beams=0)
    gen = SceneGenerator(width=32, height=24, seed=0)
    outside = camera_pose((100.0, 0.0, 1.0), 0.0, 0.0)
    with pytest.raises(InputError, match="not inside the room"):
        gen.render(outside)


# ------------------------------------------------------------------------------- LiDAR realism

def test_default_lidar_is_mounted_behind_and_above_the_camera() -> None:
    gen = SceneGenerator(width=64, height=48, seed=0)
    # LiDAR origin in the camera optical frame (x right, y down, z forward): 0.27 m back, 0.08 m up
    np.testing.assert_allclose(gen.camera_from_lidar[:3, 3], [0.0, -0.08, -0.27], atol=1e-12)


def test_parallax_bleed_through_at_foreground_edges() -> None:
    """With the LiDAR behind and above the camera, some far LiDAR points land on foreground pixels (the
    camera sees a box there, the LiDAR saw past its edge), as on a real car; a co-located LiDAR has
    almost none (pixel rounding only)."""
    def bleeding(offset: tuple[float, float, float]) -> tuple[int, int]:
        gen = SceneGenerator(width=320, height=240, seed=0, n_boxes=16, lidar_offset_m=offset)
        counts = []
        for index in (0, 5):
            frame = gen.frame(index)
            sparse = frame.sparse_depth_m
            counts.append(int(((sparse > 0) & (sparse > 1.1 * frame.depth_gt_m + 0.1)).sum()))
        return sum(counts), int((sparse > 0).sum())

    behind, n_samples = bleeding((-0.27, 0.0, 0.08))
    colocated, _ = bleeding((0.0, 0.0, 0.0))
    assert behind > 0.01 * n_samples, (behind, n_samples)
    assert behind > 4 * colocated, (behind, colocated)


def _ray_count_in_range(gen: SceneGenerator) -> np.ndarray:
    """(n_beams,) number of beam directions per ring (the closed room returns every ray in range)."""
    return np.bincount(gen._lidar_ring, minlength=gen.lidar.n_beams)


def test_lidar_dropout_rate_overall_and_per_beam() -> None:
    uniform = LidarConfig.preset(32, horizontal_resolution_deg=0.5, dropout=0.1, beam_dropout_spread=0.0,
                                 range_dropout=0.0)
    gen = SceneGenerator(width=64, height=48, seed=1, lidar=uniform)
    rays = _ray_count_in_range(gen)
    kept = np.bincount(gen.frame(0).lidar_ring, minlength=32)
    assert abs(1.0 - kept.sum() / rays.sum() - 0.1) < 0.01                      # 23040 rays: binomial sd 0.002

    spread = LidarConfig.preset(32, horizontal_resolution_deg=0.5, dropout=0.02, beam_dropout_spread=0.4,
                                range_dropout=0.0)
    gen = SceneGenerator(width=64, height=48, seed=1, lidar=spread)
    rates = gen.lidar_ring_dropout
    assert rates.min() >= 0.02 and rates.max() <= 0.42 and rates.max() - rates.min() > 0.2  # beams differ
    lost = 1.0 - np.bincount(gen.frame(0).lidar_ring, minlength=32) / _ray_count_in_range(gen)
    np.testing.assert_allclose(lost, rates, atol=0.06)                        # 720 rays per ring: sd <= 0.02
    again = SceneGenerator(width=64, height=48, seed=1, lidar=spread).lidar_ring_dropout
    np.testing.assert_array_equal(again, rates)                               # fixed per seed


def test_lidar_range_noise_has_the_configured_std() -> None:
    def ranges(noise_m: float, noise_rel: float) -> np.ndarray:
        config = LidarConfig.preset(16, horizontal_resolution_deg=0.5, range_noise_std_m=noise_m,
                                    range_noise_rel=noise_rel)
        return np.linalg.norm(SceneGenerator(width=64, height=48, seed=2, lidar=config).frame(0).lidar_points_lidar,
                              axis=1)

    exact = ranges(0.0, 0.0)
    error = ranges(0.05, 0.0) - exact                # same seed: same dropouts, the same rays
    assert abs(error.std() - 0.05) < 0.003 and abs(error.mean()) < 0.003
    relative = (ranges(0.0, 0.01) - exact) / exact
    assert abs(relative.std() - 0.01) < 0.0007

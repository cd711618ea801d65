"""Obstacle sectors, recommendation, hysteresis and LaserScan ranges on synthetic scenes of known geometry.

Scenes are rendered here by ray casting an open floor (z = 0) and axis-aligned boxes in the base frame;
rays that hit nothing within 20 m return invalid depth (NaN), like a real depth camera looking at the sky.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform, camera_pose_from_mounting
from lingbot_depth_ros.navigation import (
    BLOCKED,
    CAUTION,
    CLEAR,
    FORWARD,
    STOP,
    TURN_LEFT,
    TURN_RIGHT,
    UNKNOWN,
    ObstacleSectorAnalyzer,
    SectorConfig,
    dense_scan,
    sector_scan,
)

# 90 degrees horizontal field of view: with 3 sectors, left = [15, 45] deg, center = [-15, 15], right = [-45, -15].
K = CameraIntrinsics(fx=320.0, fy=320.0, cx=319.5, cy=239.5, width=640, height=480)
LEVEL = camera_pose_from_mounting(height_m=0.5, pitch_rad=0.0)
CFG = SectorConfig(blocked_distance_m=1.0, caution_distance_m=2.0, hysteresis_m=0.1)
Box = tuple[tuple[float, float, float], tuple[float, float, float]]


def render(base_t_opt: RigidTransform, boxes: list[Box] = (), floor: bool = True, far_m: float = 20.0,
           intrinsics: CameraIntrinsics = K) -> np.ndarray:
    """(H, W) float32 depth [m] of a floor plane and boxes given as (lo, hi) corners in the base frame."""
    u, v = np.meshgrid(np.arange(intrinsics.width), np.arange(intrinsics.height))
    rays = np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, np.ones(u.shape)], -1)
    dirs = rays.reshape(-1, 3) @ base_t_opt.rotation.T   # optical z = 1, so the ray parameter is the depth
    origin = base_t_opt.translation
    best = np.full(len(dirs), np.inf)
    safe = np.where(np.abs(dirs) < 1e-12, 1e-12, dirs)
    if floor:
        t = -origin[2] / safe[:, 2]
        best = np.where((dirs[:, 2] < 0) & (t > 0), np.minimum(best, t), best)
    for lo, hi in boxes:
        t1 = (np.asarray(lo) - origin) / safe
        t2 = (np.asarray(hi) - origin) / safe
        t_near = np.minimum(t1, t2).max(axis=1)
        t_far = np.maximum(t1, t2).min(axis=1)
        hit = (t_far >= t_near) & (t_near > 0)
        best = np.where(hit, np.minimum(best, t_near), best)
    depth = np.where(best <= far_m, best, np.nan).astype(np.float32)
    return depth.reshape(intrinsics.height, intrinsics.width)


def by_name(report):
    return {s.name: s for s in report.sectors}


def test_sector_layout_left_to_right() -> None:
    report = ObstacleSectorAnalyzer(CFG).analyze_depth(render(LEVEL), K, LEVEL)
    names = [s.name for s in report.sectors]
    assert names == ["left", "center", "right"]
    edges = [(math.degrees(s.angle_min), math.degrees(s.angle_max)) for s in report.sectors]
    np.testing.assert_allclose(edges, [(15, 45), (-15, 15), (-45, -15)], atol=1e-6)


def test_empty_floor_is_clear_and_floor_is_not_an_obstacle() -> None:
    report = ObstacleSectorAnalyzer(CFG).analyze_depth(render(LEVEL), K, LEVEL)
    for s in report.sectors:
        assert s.status == CLEAR and s.distance_m is None and s.n_points == 0, s
        assert s.coverage == pytest.approx(1.0) and s.visible_m > 2.0
    assert report.recommendation == FORWARD and report.sectors[report.target_sector].name == "center"


def test_wall_at_1_5_m_in_left_sector() -> None:
    wall = ((1.5, 0.45, 0.0), (1.7, 5.0, 2.0))  # front face x = 1.5 m, from y = 0.45 m leftwards
    report = ObstacleSectorAnalyzer(CFG).analyze_depth(render(LEVEL, [wall]), K, LEVEL)
    s = by_name(report)
    # Nearest wall point is (1.5, 0.45): hypot = 1.566 m; the 5th percentile lies a little beyond it.
    assert 1.56 <= s["left"].distance_m <= 1.70
    assert s["left"].status == CAUTION and s["left"].n_points >= CFG.min_points
    assert s["center"].status == CLEAR and s["right"].status == CLEAR
    assert s["center"].distance_m is None and s["right"].distance_m is None
    assert report.recommendation == FORWARD


def test_box_in_center_turns_towards_the_clear_side() -> None:
    # The camera sits 0.3 m ahead of the base origin: distances are measured from the base origin.
    base_t_opt = camera_pose_from_mounting(height_m=0.5, pitch_rad=0.0, x_m=0.3)
    box = ((1.1, -0.2, 0.0), (1.4, 0.2, 0.5))
    report = ObstacleSectorAnalyzer(SectorConfig(blocked_distance_m=1.2, caution_distance_m=2.0)).analyze_depth(
        render(base_t_opt, [box]), K, base_t_opt)
    s = by_name(report)
    assert s["center"].distance_m == pytest.approx(1.1, abs=0.03)
    assert s["center"].status == BLOCKED
    assert s["left"].status == CLEAR and s["right"].status == CLEAR
    assert report.recommendation == TURN_LEFT  # tie between two clear sides: left, documented
    # Add a wall 1.6 m away on the left: the right is now the clearest side.
    wall = ((1.6, 0.7, 0.0), (1.8, 5.0, 2.0))
    report = ObstacleSectorAnalyzer(SectorConfig(blocked_distance_m=1.2, caution_distance_m=2.0)).analyze_depth(
        render(base_t_opt, [box, wall]), K, base_t_opt)
    assert by_name(report)["left"].status == CAUTION
    assert report.recommendation == TURN_RIGHT and report.sectors[report.target_sector].name == "right"


def test_pitched_camera_uses_its_pose_to_reject_the_floor() -> None:
    pitched = camera_pose_from_mounting(height_m=1.0, pitch_rad=math.radians(25), x_m=0.2)
    box = ((1.2, -0.3, 0.0), (1.5, 0.3, 0.6))
    depth = render(pitched, [box])
    report = ObstacleSectorAnalyzer(SectorConfig(blocked_distance_m=0.5, caution_distance_m=1.5)).analyze_depth(
        depth, K, pitched)
    s = by_name(report)
    assert s["center"].distance_m == pytest.approx(1.2, abs=0.04) and s["center"].status == CAUTION
    assert s["left"].distance_m is None and s["right"].distance_m is None
    assert s["left"].status == CLEAR and s["right"].status == CLEAR
    # The same depth analysed with a wrong (level) pose sees the tilted floor as obstacles everywhere.
    wrong = ObstacleSectorAnalyzer(SectorConfig(blocked_distance_m=0.5, caution_distance_m=1.5)).analyze_depth(
        depth, K, camera_pose_from_mounting(height_m=1.0, pitch_rad=0.0, x_m=0.2))
    assert all(sec.distance_m is not None for sec in wrong.sectors)


@pytest.mark.parametrize("fill", [np.nan, 0.0, np.inf])
def test_only_invalid_depth_is_unknown_and_stops(fill: float) -> None:
    depth = np.full((480, 640), fill, dtype=np.float32)
    analyzer = ObstacleSectorAnalyzer(CFG)
    report = analyzer.analyze_depth(depth, K, LEVEL)
    assert [s.status for s in report.sectors] == [UNKNOWN] * 3
    assert all(s.coverage == 0.0 and not s.observed for s in report.sectors)
    assert report.recommendation == STOP and report.target_sector is None
    assert np.isnan(sector_scan(report, CFG).ranges).all()
    assert np.isnan(dense_scan(report.ground, CFG, 32).ranges).all()


def test_partly_invalid_sector_is_not_clear() -> None:
    depth = render(LEVEL)
    depth[:, :214] = np.nan  # most of the left sector (columns 0..233) returns nothing
    s = by_name(ObstacleSectorAnalyzer(CFG).analyze_depth(depth, K, LEVEL))
    assert s["left"].n_valid >= CFG.min_points  # a few valid points are there...
    assert s["left"].coverage < 0.2 and s["left"].status == UNKNOWN  # ...but the sector is not seen
    assert s["center"].status == CLEAR


def test_few_noisy_pixels_do_not_make_an_obstacle_but_enough_do() -> None:
    depth = render(LEVEL)
    noisy = depth.copy()
    noisy[240:252:4, 320:332:4] = 0.4  # 9 samples on the decimation grid, 0.4 m ahead at camera height
    s = by_name(ObstacleSectorAnalyzer(CFG).analyze_depth(noisy, K, LEVEL))
    assert s["center"].n_points == 9 and s["center"].distance_m is None and s["center"].status == CLEAR
    real = depth.copy()
    real[240:256:4, 320:332:4] = 0.4  # 12 samples >= min_points (10): a real small obstacle
    s = by_name(ObstacleSectorAnalyzer(CFG).analyze_depth(real, K, LEVEL))
    assert s["center"].distance_m == pytest.approx(0.4, abs=0.01) and s["center"].status == BLOCKED


def _points_scene(center_distance: float | None) -> np.ndarray:
    """Base-frame points: a floor grid over +-60 deg out to 6 m, plus a 60-point post straight ahead."""
    r, a = np.meshgrid(np.linspace(0.5, 6.0, 40), np.radians(np.linspace(-60, 60, 61)))
    floor = np.column_stack([(r * np.cos(a)).ravel(), (r * np.sin(a)).ravel(), np.zeros(r.size)])
    if center_distance is None:
        return floor
    y, z = np.meshgrid(np.linspace(-0.05, 0.05, 6), np.linspace(0.2, 1.0, 10))
    post = np.column_stack([np.full(y.size, center_distance), y.ravel(), z.ravel()])
    return np.vstack([floor, post])


def test_hysteresis_escalates_at_once_and_relaxes_with_margin() -> None:
    cfg = SectorConfig(fov_rad=math.radians(90), blocked_distance_m=0.5, caution_distance_m=1.0, hysteresis_m=0.1)
    sticky, twitchy = ObstacleSectorAnalyzer(cfg), ObstacleSectorAnalyzer(
        SectorConfig(fov_rad=math.radians(90), blocked_distance_m=0.5, caution_distance_m=1.0, hysteresis_m=0.0))
    distances = [0.45, 0.55, 0.45, 0.58, 0.65, 0.95, 1.05, 1.15, 0.95, 0.40, None]
    expected = [BLOCKED, BLOCKED, BLOCKED, BLOCKED, CAUTION, CAUTION, CAUTION, CLEAR, CAUTION, BLOCKED, CLEAR]
    got, raw = [], []
    for d in distances:
        got.append(by_name(sticky.analyze_points(_points_scene(d)))["center"].status)
        raw.append(by_name(twitchy.analyze_points(_points_scene(d)))["center"].status)
    assert got == expected
    assert raw[:3] == [BLOCKED, CAUTION, BLOCKED]  # without hysteresis the status flickers
    sticky.reset()
    assert by_name(sticky.analyze_points(_points_scene(0.55)))["center"].status == CAUTION


def test_unknown_is_immediate_even_from_clear() -> None:
    analyzer = ObstacleSectorAnalyzer(SectorConfig(fov_rad=math.radians(90)))
    assert by_name(analyzer.analyze_points(_points_scene(None)))["center"].status == CLEAR
    empty = analyzer.analyze_points(np.full((10, 3), np.nan))
    assert [s.status for s in empty.sectors] == [UNKNOWN] * 3 and empty.recommendation == STOP


def test_points_only_in_one_sector_leave_the_others_unknown() -> None:
    pts = _points_scene(None)
    center_only = pts[np.abs(np.arctan2(pts[:, 1], pts[:, 0])) < math.radians(10)]
    s = by_name(ObstacleSectorAnalyzer(SectorConfig(fov_rad=math.radians(90))).analyze_points(center_only))
    assert s["center"].status == CLEAR and s["left"].status == UNKNOWN and s["right"].status == UNKNOWN


def test_all_blocked_stops_and_recommendation_sticks_on_ties() -> None:
    cfg = SectorConfig(fov_rad=math.radians(90))
    a = np.radians(np.linspace(-44, 44, 89))
    z = np.linspace(0.2, 1.0, 5)
    aa, zz = np.meshgrid(a, z)
    ring = np.column_stack([0.3 * np.cos(aa).ravel(), 0.3 * np.sin(aa).ravel(), zz.ravel()])
    assert ObstacleSectorAnalyzer(cfg).analyze_points(ring).recommendation == STOP
    # Center blocked, both sides clear: left first (tie), and it stays left while the tie persists even if
    # the right side becomes marginally farther.
    analyzer = ObstacleSectorAnalyzer(cfg)
    assert analyzer.analyze_points(_points_scene(0.3)).recommendation == TURN_LEFT
    assert analyzer.analyze_points(_points_scene(0.3)).recommendation == TURN_LEFT


def test_config_and_input_validation() -> None:
    with pytest.raises(ConfigError, match="min_obstacle_height_m"):
        SectorConfig(min_obstacle_height_m=1.0, max_obstacle_height_m=0.5)
    with pytest.raises(ConfigError, match="blocked_distance_m"):
        SectorConfig(blocked_distance_m=2.0, caution_distance_m=1.0)
    with pytest.raises(ConfigError, match="fov_rad must be > 0"):
        ObstacleSectorAnalyzer().analyze_points(np.zeros((5, 3)))
    with pytest.raises(InputError, match=r"\(H, W\)"):
        ObstacleSectorAnalyzer().analyze_depth(np.zeros((4, 4, 3), np.float32), K, LEVEL)
    with pytest.raises(InputError, match="4x4 but intrinsics"):
        ObstacleSectorAnalyzer().analyze_depth(np.zeros((4, 4), np.float32), K, LEVEL)
    with pytest.raises(InputError, match="straight up or down"):
        ObstacleSectorAnalyzer().analyze_depth(np.zeros((480, 640), np.float32), K,
                                               camera_pose_from_mounting(1.0, math.pi / 2))
    # Looking straight down works once the span is given explicitly: a box below the camera is found.
    down = camera_pose_from_mounting(1.0, math.pi / 2)
    report = ObstacleSectorAnalyzer(SectorConfig(fov_rad=2 * math.pi, num_sectors=4, min_points=5)).analyze_depth(
        render(down, [((0.3, -0.2, 0.0), (0.6, 0.2, 0.4))]), K, down)
    assert min(s.distance_m for s in report.sectors if s.distance_m is not None) == pytest.approx(0.3, abs=0.02)


def test_sector_scan_layout_and_rep117_values() -> None:
    wall = ((1.5, 0.45, 0.0), (1.7, 5.0, 2.0))
    depth = render(LEVEL, [wall])
    depth[:, 440:] = np.nan  # right sector (columns ~406..639) mostly unseen
    report = ObstacleSectorAnalyzer(CFG).analyze_depth(depth, K, LEVEL)
    scan = sector_scan(report, CFG)
    assert scan.ranges.dtype == np.float32 and scan.ranges.shape == (3,)
    assert math.degrees(scan.angle_min) == pytest.approx(-30) and math.degrees(scan.angle_max) == pytest.approx(30)
    assert math.degrees(scan.angle_increment) == pytest.approx(30)
    right, center, left = scan.ranges  # increasing angle = right to left
    assert math.isnan(right) and center == np.inf and 1.56 <= left <= 1.70
    assert scan.range_min == CFG.min_range_m and scan.range_max == CFG.max_range_m


def test_dense_scan_matches_wall_geometry() -> None:
    wall = ((2.0, -10.0, 0.0), (2.2, 10.0, 2.0))  # a wall 2 m ahead across the whole view
    report = ObstacleSectorAnalyzer(CFG).analyze_depth(render(LEVEL, [wall]), K, LEVEL)
    scan = dense_scan(report.ground, CFG, num_rays=30)
    assert scan.ranges.shape == (30,)
    assert math.degrees(scan.angle_increment) == pytest.approx(3.0)
    assert math.degrees(scan.angle_min) == pytest.approx(-43.5)
    for i, value in enumerate(scan.ranges):
        lo = math.radians(-45 + 3 * i)
        hi = lo + math.radians(3)
        nearest = 2.0 / math.cos(min(abs(lo), abs(hi)) if lo * hi > 0 else 0.0)
        farthest = 2.0 / math.cos(max(abs(lo), abs(hi)))
        assert nearest - 1e-3 <= value <= farthest + 1e-3, (i, value, nearest, farthest)
    with pytest.raises(ConfigError, match="num_rays"):
        dense_scan(report.ground, CFG, 0)


def test_thin_post_in_front_of_a_wide_wall_is_not_averaged_away() -> None:
    # A 2 cm x 30 cm post at 0.8 m in front of a wall at 1.6 m: ~60 samples against ~3000 wall samples.
    wall = ((1.6, -10.0, 0.0), (1.8, 10.0, 2.0))
    post = ((0.8, -0.01, 0.0), (0.82, 0.01, 0.3))
    depth = render(LEVEL, [wall, post])
    one_bin = by_name(ObstacleSectorAnalyzer(SectorConfig(blocked_distance_m=1.0, caution_distance_m=2.0,
                                                          sub_bins=1)).analyze_depth(depth, K, LEVEL))
    assert one_bin["center"].distance_m > 1.55  # a plain sector-wide 5th percentile reads the wall...
    report = ObstacleSectorAnalyzer(CFG).analyze_depth(depth, K, LEVEL)
    center = by_name(report)["center"]
    assert center.distance_m == pytest.approx(0.8, abs=0.03) and center.status == BLOCKED  # ...sub-bins do not
    scan = dense_scan(report.ground, CFG, num_rays=90)
    assert np.nanmin(scan.ranges) == pytest.approx(0.8, abs=0.03)


def test_near_outliers_inside_a_populated_sub_bin_are_ignored_by_the_percentile() -> None:
    # A wall at 1.6 m fills every sub-bin (~350 obstacle samples each); 6 spurious returns at 0.5 m sit in one
    # column, i.e. inside one populated sub-bin, fewer than its 5th-percentile rank: the percentile reads the
    # wall, a per-sub-bin minimum would read 0.5 m and stop the robot.
    wall = ((1.6, -10.0, 0.0), (1.8, 10.0, 2.0))
    depth = render(LEVEL, [wall])
    noisy = depth.copy()
    noisy[240:264:4, 320] = 0.5
    clean = by_name(ObstacleSectorAnalyzer(CFG).analyze_depth(depth, K, LEVEL))["center"]
    center = by_name(ObstacleSectorAnalyzer(CFG).analyze_depth(noisy, K, LEVEL))["center"]
    assert center.n_points == clean.n_points  # the outliers are obstacle points, counted...
    assert center.distance_m == pytest.approx(1.6, abs=0.03)  # ...but do not set the distance
    assert center.status == CAUTION
    # Enough of them in that sub-bin (more than its percentile rank) is a real obstacle again.
    crowd = depth.copy()
    crowd[200:300, 316:328] = 0.5
    center = by_name(ObstacleSectorAnalyzer(CFG).analyze_depth(crowd, K, LEVEL))["center"]
    assert center.distance_m == pytest.approx(0.5, abs=0.03) and center.status == BLOCKED


def test_percentile_is_the_lower_nearest_rank_of_the_sorted_distances() -> None:
    """25 obstacle points straight ahead at 1.0, 1.1, ..., 3.4 m. The obstacle distance is the sorted distance at
    rank floor(p / 100 * (n - 1)): 5th percentile -> floor(0.05 * 24 = 1.2) = 1 -> 1.1 m (ceil: 1.2 m; numpy's
    linear percentile: 1.12 m); visible_m, the 90th -> floor(0.9 * 24 = 21.6) = 21 -> 3.1 m (ceil: 3.2 m)."""
    distances = 1.0 + 0.1 * np.arange(25)
    points = np.column_stack([distances, np.zeros(25), np.full(25, 0.5)])  # x forward, on the axis, 0.5 m high
    config = SectorConfig(num_sectors=1, fov_rad=math.pi / 2, sub_bins=1)
    assert config.percentile == 5.0  # the default the node uses
    sector = ObstacleSectorAnalyzer(config).analyze_points(points).sectors[0]
    assert sector.n_points == 25
    assert sector.distance_m == pytest.approx(1.1, abs=1e-6)
    assert sector.visible_m == pytest.approx(3.1, abs=1e-6)


def test_a_7_cm_bump_is_floor_not_an_obstacle_at_the_default_10_cm_cut_off() -> None:
    """The floor cut-off (SectorConfig.min_obstacle_height_m, node parameter obstacles.min_height_m, both 0.10 m):
    a 7 cm bump (a door sill, a cable guard) 1.2-1.5 m ahead across the whole view, seen by the level camera 0.5 m
    up, makes no obstacle point in any sector, and the way ahead stays clear; with a 5 cm cut-off its top would
    be an obstacle at 1.2 m. A 13 cm step at the same place is one (the scene does produce obstacle points)."""
    from lingbot_depth_ros.params.navigation import sector_config_from_params

    bump = ((1.2, -5.0, 0.0), (1.5, 5.0, 0.07))
    step = ((1.2, -5.0, 0.0), (1.5, 5.0, 0.13))
    for config in (SectorConfig(), sector_config_from_params({})):
        assert config.min_obstacle_height_m == 0.10
        report = ObstacleSectorAnalyzer(config).analyze_depth(render(LEVEL, [bump]), K, LEVEL)
        assert all(s.n_points == 0 and s.distance_m is None for s in report.sectors), report.sectors
        assert by_name(report)["center"].status == CLEAR and report.recommendation == FORWARD
        stepped = by_name(ObstacleSectorAnalyzer(config).analyze_depth(render(LEVEL, [step]), K, LEVEL))["center"]
        assert stepped.n_points > 0 and stepped.distance_m == pytest.approx(1.2, abs=0.03)

"""Fusion core without ROS: pose interpolation and chains against hand-computed values, pose files,
the Open3D TSDF volume (memory bound, weight cap, bad input) and the accuracy/completeness targets on the
procedural scene with the classical estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.fusion.ground_truth import distance_to_layout, nearest_distance, observed_surface, score_fusion
from lingbot_depth_ros.fusion.poses import (
    PoseBuffer,
    camera_pose_from_odometry,
    chain,
    interpolate_pose,
    mounting_matrix,
    read_pose_file,
    slerp,
)
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    m = np.eye(4)
    m[:2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    return m


def translate(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


# ------------------------------------------------------------------------------------------ poses
def test_slerp_halfway_and_shorter_arc() -> None:
    q0 = np.array([0.0, 0.0, 0.0, 1.0])
    q90 = np.array([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    np.testing.assert_allclose(slerp(q0, q90, 0.5), [0, 0, math.sin(math.pi / 8), math.cos(math.pi / 8)], atol=1e-12)
    # -q90 is the same rotation: the result must still be the 45 degree rotation (up to sign)
    half = slerp(q0, -q90, 0.5)
    assert abs(abs(half[3]) - math.cos(math.pi / 8)) < 1e-12


def test_interpolate_pose_translation_linear_rotation_slerp() -> None:
    p0 = translate(0, 0, 0) @ rot_z(0)
    p1 = translate(2.0, -1.0, 0.5) @ rot_z(60)
    mid = interpolate_pose(p0, p1, 0.25)
    np.testing.assert_allclose(mid[:3, 3], [0.5, -0.25, 0.125], atol=1e-12)
    np.testing.assert_allclose(mid[:3, :3], rot_z(15)[:3, :3], atol=1e-12)


def test_pose_buffer_lookup_interpolates_and_refuses_gaps() -> None:
    buf = PoseBuffer(max_gap_ns=200_000_000, max_extrapolation_ns=10_000_000)
    buf.add(1_100_000_000, translate(1.0, 0, 0) @ rot_z(40))  # out of order on purpose
    buf.add(1_000_000_000, translate(0.0, 0, 0) @ rot_z(0))
    pose = buf.lookup(1_075_000_000)
    np.testing.assert_allclose(pose[:3, 3], [0.75, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, :3], rot_z(30)[:3, :3], atol=1e-12)
    np.testing.assert_allclose(buf.lookup(1_105_000_000), translate(1.0, 0, 0) @ rot_z(40), atol=1e-12)
    with pytest.raises(InputError, match="after the last pose"):
        buf.lookup(1_200_000_000)
    buf.add(1_500_000_000, translate(2.0, 0, 0))
    with pytest.raises(InputError, match="gap"):
        buf.lookup(1_300_000_000)
    with pytest.raises(InputError, match="no pose"):
        PoseBuffer().lookup(0)


def test_odometry_chain_hand_computed() -> None:
    # Robot at (2, 1, 0) yawed 90 deg left; camera 0.3 m forward, 1 m up, looking forward (optical frame).
    map_from_base = translate(2.0, 1.0, 0.0) @ rot_z(90)
    base_from_camera = mounting_matrix((0.3, 0.0, 1.0), (0.0, 0.0, 0.0))
    pose = camera_pose_from_odometry(map_from_base, base_from_camera)
    # Camera origin: base x (0.3 forward) points along map +y -> (2, 1.3, 1).
    np.testing.assert_allclose(pose[:3, 3], [2.0, 1.3, 1.0], atol=1e-12)
    # Optical z (forward) = map +y, optical x (right) = map +x, optical y (down) = map -z.
    np.testing.assert_allclose(pose[:3, 2], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 0], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 1], [0, 0, -1], atol=1e-12)
    # A point 2 m in front of the camera lands 2 m further along map +y.
    np.testing.assert_allclose((pose @ [0, 0, 2.0, 1.0])[:3], [2.0, 3.3, 1.0], atol=1e-12)
    np.testing.assert_allclose(chain(translate(1, 0, 0), rot_z(90), translate(1, 0, 0))[:3, 3], [1, 1, 0], atol=1e-12)


def test_pose_files_kitti_tum_and_matrices(tmp_path) -> None:
    poses = [translate(0.1 * i, 0, 0) @ rot_z(10 * i) for i in range(3)]
    kitti = tmp_path / "kitti.txt"
    kitti.write_text("\n".join(" ".join(f"{v:.12f}" for v in p[:3].ravel()) for p in poses))
    tum = tmp_path / "tum.txt"
    tum.write_text("# timestamp tx ty tz qx qy qz qw\n" + "\n".join(
        f"{1.5 + i} {0.1 * i} 0 0 0 0 {math.sin(math.radians(5 * i))} {math.cos(math.radians(5 * i))}"
        for i in range(3)))
    rows = tmp_path / "rows.txt"
    rows.write_text("\n\n".join("\n".join(" ".join(f"{v:.12f}" for v in r) for r in p) for p in poses))
    for path in (kitti, tum, rows):
        read, stamps = read_pose_file(path)
        assert len(read) == 3
        for a, b in zip(read, poses):
            np.testing.assert_allclose(a, b, atol=1e-9)
        assert stamps == ([1.5, 2.5, 3.5] if path is tum else None)
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3 4 5\n")
    with pytest.raises(InputError, match="no known pose format"):
        read_pose_file(bad)
    bad.write_text("2 0 0 0 0 1 0 0 0 0 1 0\n")  # scaled, not rigid
    with pytest.raises(InputError, match="bad.txt:1"):
        read_pose_file(bad)


# ------------------------------------------------------------------------------------------ scoring
def test_distance_to_layout_hand_computed() -> None:
    room_min, room_max = np.array([0.0, 0.0, 0.0]), np.array([10.0, 4.0, 3.0])
    box_lo, box_hi = np.array([[5.0, 1.0, 0.0]]), np.array([[6.0, 2.0, 1.0]])
    pts = np.array([[2.0, 2.0, 0.1],     # 0.1 above the floor
                     [5.5, 1.5, 1.25],   # 0.25 above the box top
                     [4.0, 1.5, 0.5],    # 1.0 in front of the box face x=5 (floor 0.5 below)
                     [5.5, 1.5, 0.9],    # inside the box, 0.1 below its top
                     [11.0, 2.0, 1.5]])  # outside the room, 1 m beyond the wall x=10
    np.testing.assert_allclose(distance_to_layout(pts, room_min, room_max, box_lo, box_hi),
                               [0.1, 0.25, 0.5, 0.1, 1.0], atol=1e-12)


def test_nearest_distance_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    ref, q = rng.uniform(0, 1, (500, 3)), rng.uniform(0, 1, (300, 3))
    brute = np.linalg.norm(q[:, None] - ref[None], axis=2).min(axis=1)
    got = nearest_distance(q, ref, 0.1)
    close = brute <= 0.1
    np.testing.assert_allclose(got[close], brute[close], atol=1e-12)
    assert np.isinf(got[~close]).all()


# ------------------------------------------------------------------------------------------ TSDF
def _wall_depth(k: CameraIntrinsics, z_m: float) -> np.ndarray:
    return np.full((k.height, k.width), z_m, np.float32)


K_SMALL = CameraIntrinsics(fx=80.0, fy=80.0, cx=39.5, cy=29.5, width=80, height=60)


def test_tsdf_wall_lands_at_the_posed_depth_with_colour() -> None:
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion

    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05, max_depth_m=4.0, weight_threshold=1.0))
    pose = translate(1.0, 2.0, 0.5)  # camera looks along map +z
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[..., 0] = 200
    for _ in range(3):
        fusion.integrate(_wall_depth(K_SMALL, 2.03), K_SMALL, pose, rgb=rgb)
    xyz, colour = fusion.point_cloud()
    assert len(xyz) > 200
    assert abs(float(np.median(xyz[:, 2])) - 2.53) < 0.01  # 0.5 + 2.03, found to a fraction of a voxel
    assert np.all(np.abs(colour[:, 0].astype(int) - 200) <= 2) and colour[:, 1].max() <= 2
    down, _ = fusion.point_cloud(downsample_m=0.2)
    assert 0 < len(down) < len(xyz) / 4
    diag = fusion.diagnostics()
    assert diag["frames_integrated"] == "3" and int(diag["blocks"]) > 0


def test_tsdf_memory_bound_radius_and_max_blocks() -> None:
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion

    # Radius: after moving 10 m along x, the first wall (now > 3 m away) is dropped.
    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05, max_depth_m=4.0, weight_threshold=0.5, max_distance_m=3.0))
    fusion.integrate(_wall_depth(K_SMALL, 2.03), K_SMALL, np.eye(4))
    first_blocks = fusion.stats.blocks
    fusion.integrate(_wall_depth(K_SMALL, 2.03), K_SMALL, translate(10.0, 0, 0))
    xyz, _ = fusion.point_cloud()
    assert fusion.stats.blocks_dropped >= first_blocks
    assert xyz[:, 0].min() > 8.0  # only the second wall remains
    # Max blocks: the count never exceeds the bound, the nearest blocks are kept.
    capped = TsdfFusion(FusionConfig(voxel_size_m=0.05, max_depth_m=4.0, weight_threshold=1.0, max_blocks=40))
    capped.integrate(_wall_depth(K_SMALL, 2.03), K_SMALL, np.eye(4))
    assert capped.stats.blocks == 40 and capped.stats.blocks_dropped > 0
    assert capped.diagnostics()["max_blocks"] == "40"


def test_tsdf_weight_cap_lets_a_moved_surface_take_over() -> None:
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion

    def final_z(max_weight: float) -> float:
        fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05, max_depth_m=4.0, weight_threshold=0.5,
                                         max_weight=max_weight, truncation_voxels=6))
        for _ in range(20):
            fusion.integrate(_wall_depth(K_SMALL, 2.03), K_SMALL, np.eye(4))
        for _ in range(4):
            fusion.integrate(_wall_depth(K_SMALL, 2.13), K_SMALL, np.eye(4))
        return float(np.median(fusion.point_cloud()[0][:, 2]))

    assert final_z(max_weight=2.0) > 2.10   # old wall forgotten
    assert final_z(max_weight=100.0) < 2.07  # 20 old frames still dominate


def test_tsdf_bad_input_is_refused_and_counted() -> None:
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion

    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05))
    with pytest.raises(InputError, match="does not match the intrinsics"):
        fusion.integrate(np.ones((10, 10), np.float32), K_SMALL, np.eye(4))
    bad_pose = np.eye(4)
    bad_pose[0, 0] = 2.0
    with pytest.raises(InputError, match="rotation"):
        fusion.integrate(_wall_depth(K_SMALL, 2.03), K_SMALL, bad_pose)
    assert fusion.stats.frames_rejected == 2
    with pytest.raises(InputError, match="voxel_size_m"):
        FusionConfig(voxel_size_m=0.0)
    empty = fusion.point_cloud()
    assert empty[0].shape == (0, 3)


def test_scene_classical_fusion_meets_targets() -> None:
    """Demo scene (smaller images), classical completion of the simulated LiDAR, exact poses:
    accuracy p95 <= 2 voxels, completeness >= 0.9 over the area the depth covered."""
    from lingbot_depth_ros.estimators import create_estimator
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion
    from lingbot_depth_ros.synthetic import SceneGenerator

    voxel = 0.04
    gen = SceneGenerator(width=320, height=240, seed=0)
    estimator = create_estimator("classical")
    fusion = TsdfFusion(FusionConfig(voxel_size_m=voxel, max_depth_m=5.0))
    covered_gt, poses = [], []
    for frame in gen.frames(20):
        est = estimator.estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
        depth = np.where(est.valid, est.depth_m, 0.0).astype(np.float32)
        fusion.integrate(depth, frame.intrinsics, frame.camera_pose, rgb=frame.rgb)
        covered_gt.append(np.where(depth > 0, frame.depth_gt_m, 0.0))
        poses.append(frame.camera_pose)
    xyz, _ = fusion.point_cloud()
    layout = gen.layout
    dist = distance_to_layout(xyz, layout.room_min, layout.room_max, np.array([b.lo for b in layout.boxes]),
                              np.array([b.hi for b in layout.boxes]))
    surface = observed_surface(covered_gt, gen.intrinsics, poses, voxel, 5.0)
    score = score_fusion(xyz, dist, surface, voxel)
    assert score.accuracy_p95_m <= 2 * voxel, score
    assert score.completeness >= 0.9, score
    # A wrong pose must show: the same frames shifted by 3 voxels fail the accuracy target.
    shifted = score_fusion(xyz + 3 * voxel, distance_to_layout(xyz + 3 * voxel, layout.room_min, layout.room_max,
                                                               np.array([b.lo for b in layout.boxes]),
                                                               np.array([b.hi for b in layout.boxes])),
                           surface, voxel)
    assert shifted.accuracy_p95_m > 2 * voxel

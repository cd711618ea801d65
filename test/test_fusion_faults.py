"""Fusion under bad input, without ROS: frames with nothing to fuse (checked against Open3D's own block
allocation), cameras too far from the map origin, pose jumps, which poses a full PoseBuffer keeps, which
blocks the max_blocks bound keeps, and ``lingbot-depth fuse`` with bad intrinsics / empty frames (one-line
errors, skipped frames counted, fusion.json numbers)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.fusion.poses import PoseBuffer, PoseJumpError, check_pose_speed
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.synthetic import SceneGenerator

pytest.importorskip("open3d", reason="the fusion extra (open3d) is not installed")

from lingbot_depth_ros.fusion.tsdf import (
    MAX_COORDINATE_VOXELS,
    FusionConfig,
    NothingToFuseError,
    TsdfFusion,
)

K = CameraIntrinsics(fx=80.0, fy=80.0, cx=39.5, cy=29.5, width=80, height=60)
WALL_M = 2.03  # off the voxel grid, so the surface crosses between voxels


def _wall(k: CameraIntrinsics = K, depth_m: float = WALL_M) -> np.ndarray:
    return np.full((k.height, k.width), depth_m, np.float32)


def _translate(x: float, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = (x, y, z)
    return pose


def _open3d_touches_a_block(depth_m: np.ndarray, k: CameraIntrinsics, max_depth_m: float) -> bool:
    """Open3D's own answer (a fresh VoxelBlockGrid): does ``depth_m`` (0 = none) allocate any block?"""
    import open3d as o3d
    import open3d.core as o3c

    grid = o3d.t.geometry.VoxelBlockGrid(("tsdf", "weight"), (o3c.float32, o3c.float32), ((1), (1)), 0.04, 8, 64)
    intrinsic = o3c.Tensor(k.matrix(), o3c.float64)
    try:
        grid.compute_unique_block_coordinates(o3d.t.geometry.Image(o3c.Tensor(depth_m)), intrinsic,
                                              o3c.Tensor(np.eye(4), o3c.float64), 1.0, max_depth_m, 4.0)
    except RuntimeError as exc:
        assert "No block is touched" in str(exc)
        return False
    return True


# ------------------------------------------------------------------------------------ nothing to fuse
def test_nothing_to_fuse_is_exactly_what_open3d_cannot_allocate() -> None:
    """One valid pixel at every position of small images, at depths in range and on both range limits:
    integrate either fuses or raises NothingToFuseError (never Open3D's RuntimeError), and it raises exactly
    when Open3D itself allocates no block (it only looks at every 4th row and column)."""
    empty = fused = 0
    for h, w in ((1, 1), (3, 5), (4, 4), (5, 9), (8, 8)):
        k = CameraIntrinsics(fx=10.0, fy=10.0, cx=w / 2, cy=h / 2, width=w, height=h)
        for row in range(h):
            for col in range(w):
                for value in (2.0, 6.0, 0.1, 0.0999):  # in range, max_depth (excluded), min_depth, below it
                    depth = np.zeros((h, w), np.float32)
                    depth[row, col] = value
                    fusion = TsdfFusion(FusionConfig(min_depth_m=0.1, max_depth_m=6.0))
                    masked = np.where(depth >= 0.1, depth, 0.0).astype(np.float32)
                    try:
                        fusion.integrate(depth, k, np.eye(4))
                    except NothingToFuseError:
                        empty += 1
                        assert not _open3d_touches_a_block(masked, k, 6.0), (h, w, row, col, value)
                        assert (fusion.stats.frames_empty, fusion.stats.frames_integrated) == (1, 0)
                        continue
                    fused += 1
                    assert fusion.stats.frames_integrated == 1 and fusion.stats.blocks > 0
    # fused: the 2 depths in range at the grid pixels (0 + 0 + 1 + 2 + 4 of the 141 positions)
    assert (empty, fused) == (4 * 141 - 2 * 7, 2 * 7)


EMPTY_FRAMES = {
    "all_nan": (np.full((60, 80), np.nan, np.float32), K),
    "all_zero": (np.zeros((60, 80), np.float32), K),
    "all_inf": (np.full((60, 80), np.inf, np.float32), K),
    "below_min_depth": (np.full((60, 80), 0.05, np.float32), K),
    "beyond_max_depth": (np.full((60, 80), 6.0, np.float32), K),
    "all_1e30_m": (np.full((60, 80), 1e30, np.float32), K),
    "1x1_valid": (np.full((1, 1), 2.0, np.float32), CameraIntrinsics(1.0, 1.0, 0.0, 0.0, 1, 1)),
    "3x3_valid": (np.full((3, 3), 2.0, np.float32), CameraIntrinsics(3.0, 3.0, 1.0, 1.0, 3, 3)),
}


@pytest.mark.parametrize("name", list(EMPTY_FRAMES))
def test_empty_frame_is_refused_counted_and_leaves_the_volume_alone(name: str) -> None:
    depth, k = EMPTY_FRAMES[name]
    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05, min_depth_m=0.1, max_depth_m=6.0, weight_threshold=1.0))
    fusion.integrate(_wall(), K, np.eye(4))
    blocks = fusion.stats.blocks
    with pytest.raises(NothingToFuseError, match="nothing to fuse"):
        fusion.integrate(depth, k, np.eye(4))
    assert (fusion.stats.frames_empty, fusion.stats.frames_integrated, fusion.stats.blocks) == (1, 1, blocks)
    assert fusion.diagnostics()["frames_empty"] == "1"
    for _ in range(2):
        fusion.integrate(_wall(), K, np.eye(4))  # fusion goes on
    xyz, _ = fusion.point_cloud()
    assert len(xyz) > 200 and abs(float(np.median(xyz[:, 2])) - WALL_M) < 0.03


def test_camera_far_from_the_map_origin_is_refused() -> None:
    """Beyond voxel * 2^21 from the origin Open3D's float32 coordinates are coarser than a quarter voxel (a
    UTM-scale map frame): refused with the reason, not fused into a quantised map."""
    voxel = 0.05
    limit = voxel * MAX_COORDINATE_VOXELS
    fusion = TsdfFusion(FusionConfig(voxel_size_m=voxel, weight_threshold=1.0))
    with pytest.raises(InputError, match="local map frame"):
        fusion.integrate(_wall(), K, _translate(0.0, -1.01 * limit))
    assert fusion.stats.frames_rejected == 1 and fusion.stats.blocks == 0
    for _ in range(3):
        fusion.integrate(_wall(), K, _translate(0.99 * limit))
    xyz, _ = fusion.point_cloud()
    assert len(xyz) > 200 and abs(float(np.median(xyz[:, 0])) - 0.99 * limit) < 1.0


# ------------------------------------------------------------------------------------ pose jumps
def test_check_pose_speed_hand_computed() -> None:
    check_pose_speed(0, np.eye(4), 100_000_000, _translate(5.0), 50.0)  # 5 m in 0.1 s = 50 m/s: allowed
    with pytest.raises(PoseJumpError, match=r"5\.01 m in 100 ms"):
        check_pose_speed(0, np.eye(4), 100_000_000, _translate(5.01), 50.0)
    with pytest.raises(PoseJumpError, match="in 1 ms"):  # same stamp: counted as 1 ms
        check_pose_speed(7, np.eye(4), 7, _translate(0.06), 50.0)
    check_pose_speed(7, np.eye(4), 7, _translate(0.05), 50.0)
    check_pose_speed(0, np.eye(4), 1, _translate(1e9), 0.0)  # 0 = no bound


def test_pose_buffer_refuses_to_interpolate_across_a_1000_km_jump() -> None:
    buf = PoseBuffer(max_gap_ns=500_000_000, max_extrapolation_ns=10_000_000, max_speed_m_s=50.0)
    buf.add(1_000_000_000, _translate(0.0))
    buf.add(1_100_000_000, _translate(1.0))
    buf.add(1_200_000_000, _translate(1e6))  # 1000 km further, 0.1 s later
    buf.add(1_300_000_000, _translate(1e6 + 1.0))
    np.testing.assert_allclose(buf.lookup(1_050_000_000)[:3, 3], [0.5, 0, 0], atol=1e-9)
    with pytest.raises(PoseJumpError, match="pose jump of 1e\\+06 m in 100 ms.*not interpolated"):
        buf.lookup(1_150_000_000)
    np.testing.assert_allclose(buf.lookup(1_200_000_000)[:3, 3], [1e6, 0, 0])  # the pose at its own stamp
    np.testing.assert_allclose(buf.lookup(1_250_000_000)[:3, 3], [1e6 + 0.5, 0, 0], atol=1e-6)  # after it: fine
    buf.max_speed_m_s = 0.0  # no guard: the old behaviour, half-way across 1000 km
    np.testing.assert_allclose(buf.lookup(1_150_000_000)[:3, 3], [5e5 + 0.5, 0, 0], atol=1e-6)


# ------------------------------------------------------------------------------------ what a bound keeps
def test_full_pose_buffer_drops_the_oldest_pose_not_the_newest() -> None:
    buf = PoseBuffer(max_gap_ns=2_000_000_000, max_extrapolation_ns=10_000_000, capacity=3)
    for second in range(1, 6):
        buf.add(second * 1_000_000_000, _translate(float(second)))
    assert len(buf) == 3
    np.testing.assert_allclose(buf.lookup(5_000_000_000)[:3, 3], [5.0, 0, 0])  # the newest is there
    np.testing.assert_allclose(buf.lookup(3_500_000_000)[:3, 3], [3.5, 0, 0])
    with pytest.raises(InputError, match="before the first pose"):
        buf.lookup(2_000_000_000)  # 1 s and 2 s were dropped
    buf.add(500_000_000, _translate(0.5))  # older than everything kept: it is the one that goes
    assert len(buf) == 3
    np.testing.assert_allclose(buf.lookup(5_000_000_000)[:3, 3], [5.0, 0, 0])
    with pytest.raises(InputError, match="before the first pose"):
        buf.lookup(500_000_000)


def test_max_blocks_keeps_the_blocks_nearest_the_camera() -> None:
    """Left half of the image a wall at 1.03 m, right half one at 3.53 m. With max_blocks = the blocks of the
    near half alone, the near wall is kept whole and nothing of the far wall survives."""
    near_only = np.zeros((60, 80), np.float32)
    near_only[:, :40] = 1.03
    two_walls = near_only.copy()
    two_walls[:, 40:] = 3.53
    config = dict(voxel_size_m=0.02, max_depth_m=5.0, weight_threshold=1.0)
    reference = TsdfFusion(FusionConfig(**config))
    for _ in range(3):
        reference.integrate(near_only, K, np.eye(4))
    near_blocks = reference.stats.blocks
    near_points = len(reference.point_cloud()[0])
    uncapped = TsdfFusion(FusionConfig(**config))
    uncapped.integrate(two_walls, K, np.eye(4))
    assert uncapped.stats.blocks > 1.5 * near_blocks  # the far wall needs many blocks too
    capped = TsdfFusion(FusionConfig(**config, max_blocks=near_blocks))
    for _ in range(3):
        capped.integrate(two_walls, K, np.eye(4))
    xyz, _ = capped.point_cloud()
    assert capped.stats.blocks == near_blocks and capped.stats.blocks_dropped > 0
    assert len(xyz) > 0.8 * near_points and float(xyz[:, 2].max()) < 1.5, (len(xyz), near_points)


# ------------------------------------------------------------------------------------ lingbot-depth fuse
def _image_folder(tmp_path: Path, empty: dict[int, float] | None = None) -> tuple[Path, Path]:
    """3 frames of the procedural scene as RGB PNGs + dense depth .npy [m] + poses.txt (4x4 per line); frame
    i of ``empty`` has every depth pixel set to that value. Returns (image folder, depth folder)."""
    gen = SceneGenerator(width=64, height=48, seed=4)
    images, depths = tmp_path / "images", tmp_path / "depth"
    images.mkdir()
    depths.mkdir()
    rows = []
    for i, frame in enumerate(gen.frames(3)):
        cv2.imwrite(str(images / f"{i:04d}.png"), frame.rgb[..., ::-1])
        depth = frame.depth_gt_m.astype(np.float32)
        if empty and i in empty:
            depth = np.full_like(depth, empty[i])
        np.save(depths / f"{i:04d}.npy", depth)
        rows.append(" ".join(f"{v:.12f}" for v in frame.camera_pose.ravel()))
    (images / "poses.txt").write_text("\n".join(rows) + "\n")
    return images, depths


def _intrinsics_arg() -> str:
    k = SceneGenerator(width=64, height=48, seed=4).intrinsics
    return f"{k.fx},{k.fy},{k.cx},{k.cy}"


@pytest.mark.parametrize("text", ["nan,nan,nan,nan", "inf,500,32,24", "500,500,1e400,24", "500,-inf,32,24",
                                  "0,500,32,24"])
def test_fuse_bad_intrinsics_is_one_line_exit_2(tmp_path: Path, capsys, text: str) -> None:
    images, depths = _image_folder(tmp_path)
    assert main(["fuse", str(images), "--depth", str(depths), f"--intrinsics={text}", "--out",
                 str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--intrinsics must be finite fx,fy,cx,cy" in err and text in err, err
    assert not (tmp_path / "out" / "fused.ply").exists()


@pytest.mark.parametrize("value", [0.0, float("nan")], ids=["all_zero", "all_nan"])
def test_fuse_skips_an_empty_frame_and_counts_it(tmp_path: Path, capsys, value: float) -> None:
    images, depths = _image_folder(tmp_path, empty={1: value})
    out = tmp_path / "out"
    assert main(["fuse", str(images), "--depth", str(depths), "--intrinsics", _intrinsics_arg(), "--out", str(out),
                 "--voxel", "0.05", "--max-depth", "5", "--min-weight", "0", "--no-picture", "--quiet"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.strip()]
    assert len(warnings) == 1 and "warning: frame 0001.png skipped: nothing to fuse" in warnings[0], captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert (summary["frames"], summary["frames_fused"], summary["frames_skipped_empty"]) == (3, 2, 1)
    assert summary["points"] > 300 and (out / "fused.ply").is_file() and (out / "mesh.ply").is_file()
    assert json.loads((out / "fusion.json").read_text()) == summary


def test_fuse_with_every_frame_empty_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    images, depths = _image_folder(tmp_path, empty={0: 0.0, 1: float("nan"), 2: 0.0})
    assert main(["fuse", str(images), "--depth", str(depths), "--intrinsics", _intrinsics_arg(), "--out",
                 str(tmp_path / "out"), "--no-picture", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lingbot-depth fuse: error:") and "nothing to fuse: all 3 frames" in err[-1], err
    assert not (tmp_path / "out" / "fused.ply").exists()


def test_fusion_json_blocks_and_memory_are_numbers(tmp_path: Path, capsys) -> None:
    images, depths = _image_folder(tmp_path)
    out = tmp_path / "out"
    assert main(["fuse", str(images), "--depth", str(depths), "--intrinsics", _intrinsics_arg(), "--out", str(out),
                 "--voxel", "0.05", "--max-depth", "5", "--no-picture", "--quiet"]) == 0
    capsys.readouterr()
    written = json.loads((out / "fusion.json").read_text())
    assert type(written["blocks"]) is int and written["blocks"] > 0, written
    assert type(written["memory_mb"]) is float, written
    assert math.isclose(written["memory_mb"], written["blocks"] * 8 ** 3 * 20 / 1e6, abs_tol=0.05)
    assert (written["frames_fused"], written["frames_skipped_empty"]) == (3, 0)


def test_fuse_refuses_to_interpolate_a_tum_trajectory_across_a_jump(tmp_path: Path, capsys) -> None:
    """TUM samples half-way between the frames of a scene bag, 1000 km off from the second sample on: the
    frame whose pose would be interpolated across the jump is refused, one line, exit 2."""
    from lingbot_depth_ros.bags.datasets import write_scene_bag
    from lingbot_depth_ros.fusion.poses import pose_to_translation_quaternion

    bag = tmp_path / "bag"
    write_scene_bag(bag, 3, width=64, height=48, seed=2)
    gen = SceneGenerator(width=64, height=48, seed=2)
    rows = []
    for k in range(-1, 3):
        t, q = pose_to_translation_quaternion(gen.pose_at(k + 0.5))  # type: ignore[arg-type]
        t = t + (np.array([1e6, 0.0, 0.0]) if k >= 1 else 0.0)
        rows.append(f"{(gen.stamp_ns(0) + (k + 0.5) * 1e8) / 1e9:.6f} " + " ".join(f"{v:.9f}" for v in [*t, *q]))
    tum = tmp_path / "jump.tum"
    tum.write_text("\n".join(rows))
    assert main(["fuse", str(bag), "--out", str(tmp_path / "o"), "--poses", str(tum), "--no-picture", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "jump.tum" in err and "pose jump of 1e+06 m in 100 ms" in err, err

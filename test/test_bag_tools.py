"""lingbot-depth-bag converters on the real KITTI / NYU frames in ../shared/data, and KITTI calibration files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.evaluation.bag_tools import frame_key, kitti_camera_from_velodyne, kitti_intrinsics, main
from lingbot_depth_ros.evaluation.bags import bag_topics, read_frames

KITTI_K = ("721.5377", "721.5377", "609.5593", "172.854")


def test_kitti_with_simulated_scanlines(shared_data: Path, tmp_path: Path) -> None:
    kitti = shared_data / "kitti_gt"
    rgb = sorted(str(p) for p in kitti.glob("rgb_*.png"))
    gt = sorted(str(p) for p in kitti.glob("gt_*.png"))
    assert main(["kitti", str(tmp_path / "bag"), "--rgb", *rgb, "--gt", *gt, "--intrinsics", *KITTI_K,
                 "--simulate-scanlines", "64"]) == 0
    frames = list(read_frames(tmp_path / "bag"))
    assert len(frames) == 2
    for frame, gt_path in zip(frames, gt):
        truth = cv2.imread(gt_path, cv2.IMREAD_UNCHANGED).astype(np.float32) / 256.0
        assert frame.rgb.shape == (375, 1242, 3)
        np.testing.assert_array_equal(frame.depth_gt_m, truth)
        assert frame.intrinsics.fx == pytest.approx(721.5377) and frame.intrinsics.cy == pytest.approx(172.854)
        sparse = frame.sparse_depth_m
        rows = np.flatnonzero((sparse > 0).any(axis=1))
        assert 40 <= rows.size <= 64  # 64 scan lines over the rows that hold ground truth
        kept = sparse > 0
        np.testing.assert_array_equal(sparse[kept], truth[kept])  # 32FC1 default: exact metres
    assert frames[1].stamp_ns - frames[0].stamp_ns == 100_000_000


def test_nyu_random_samples_to_db3(shared_data: Path, tmp_path: Path) -> None:
    nyu = shared_data / "nyu"
    assert main(["nyu", str(tmp_path / "bag"), "--rgb", *sorted(map(str, nyu.glob("rgb_*.jpg"))),
                 "--depth", *sorted(map(str, nyu.glob("sync_depth_*.png"))), "--sparse-points", "200",
                 "--storage", "db3"]) == 0
    assert (tmp_path / "bag" / "bag.db3").is_file()
    frames = list(read_frames(tmp_path / "bag"))
    assert len(frames) == 3
    for frame in frames:
        assert frame.rgb.shape == (480, 640, 3)
        assert int((frame.sparse_depth_m > 0).sum()) == 200
        kept = frame.sparse_depth_m > 0
        np.testing.assert_allclose(frame.sparse_depth_m[kept], frame.depth_gt_m[kept], atol=1e-6)
        assert frame.intrinsics.fx == pytest.approx(518.8579)
        assert 0.6 < (frame.depth_gt_m > 0).mean() < 0.8
    assert not np.array_equal(frames[0].sparse_depth_m > 0, frames[1].sparse_depth_m > 0)


def test_scene_subcommand_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scene", str(tmp_path / "bag"), "--frames", "3", "--width", "64", "--height", "48",
                 "--lidar-beams", "16"]) == 0
    topics = bag_topics(tmp_path / "bag")
    assert topics["/camera/image"][1] == 3 and topics["/lidar/points"][1] == 3
    assert main(["info", str(tmp_path / "bag")]) == 0
    assert "/camera/depth_gt  sensor_msgs/msg/Image  3" in capsys.readouterr().out


def test_kitti_layout_with_calibration_files_and_raw_scan(tmp_path: Path) -> None:
    """A KITTI raw + depth-completion layout in miniature: calib files, velodyne_raw PNG, .bin scan."""
    (tmp_path / "image_02").mkdir()
    (tmp_path / "velodyne_raw").mkdir()
    (tmp_path / "groundtruth").mkdir()
    (tmp_path / "velodyne_points").mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    gt = np.zeros((20, 30), np.uint16)
    gt[10:, :] = 256 * 12  # 12 m
    raw = np.zeros_like(gt)
    raw[12, :] = 256 * 12 + 128  # 12.5 m
    for name in ("0000000005", "0000000006"):
        cv2.imwrite(str(tmp_path / "image_02" / f"{name}.png"), rgb)
        cv2.imwrite(str(tmp_path / "groundtruth" / f"{name}.png"), gt)
        cv2.imwrite(str(tmp_path / "velodyne_raw" / f"{name}.png"), raw)
        np.array([[5.0, 1.0, -0.5, 0.3], [7.0, -2.0, 0.1, 0.9]], "<f4").tofile(
            tmp_path / "velodyne_points" / f"{name}.bin")
    (tmp_path / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\n"
        "R_rect_00: 1 0 0 0 1 0 0 0 1\n"
        "P_rect_02: 721.5 0 609.5 44.85 0 721.5 172.8 0.2163 0 0 1 0.002745\n")
    (tmp_path / "calib_velo_to_cam.txt").write_text("R: 0 -1 0 0 0 -1 1 0 0\nT: -0.004 -0.076 -0.27\n")

    k = kitti_intrinsics(tmp_path / "calib_cam_to_cam.txt", 30, 20)
    assert (k.fx, k.fy, k.cx, k.cy) == (721.5, 721.5, 609.5, 172.8)
    t = kitti_camera_from_velodyne(tmp_path / "calib_velo_to_cam.txt", tmp_path / "calib_cam_to_cam.txt")
    np.testing.assert_allclose(t[:3, :3], [[0, -1, 0], [0, 0, -1], [1, 0, 0]])
    np.testing.assert_allclose(t[:3, 3], [-0.004 + 44.85 / 721.5, -0.076 + 0.2163 / 721.5, -0.27])

    assert main(["kitti", str(tmp_path / "bag"), "--rgb", str(tmp_path / "image_02"),
                 "--gt", str(tmp_path / "groundtruth"), "--sparse", str(tmp_path / "velodyne_raw"),
                 "--calib", str(tmp_path / "calib_cam_to_cam.txt"),
                 "--lidar-scan", str(tmp_path / "velodyne_points"),
                 "--velo-to-cam", str(tmp_path / "calib_velo_to_cam.txt"), "--storage", "db3"]) == 0
    frames = list(read_frames(tmp_path / "bag"))
    assert len(frames) == 2
    np.testing.assert_allclose(frames[0].sparse_depth_m[12], 12.5)
    assert (frames[0].sparse_depth_m > 0).sum() == 30
    np.testing.assert_array_equal(frames[0].lidar_points, np.array([[5.0, 1.0, -0.5], [7.0, -2.0, 0.1]], np.float32))
    np.testing.assert_allclose(frames[0].camera_from_lidar, t, atol=1e-9)


def test_bad_input_gives_exit_status_2_and_a_reason(shared_data: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    kitti = shared_data / "kitti_gt"
    base = ["kitti", str(tmp_path / "bag"), "--rgb", *map(str, kitti.glob("rgb_*.png")),
            "--gt", *map(str, kitti.glob("gt_*.png")), "--intrinsics", *KITTI_K]
    assert main(base) == 2
    assert "exactly one sparse source" in capsys.readouterr().err
    assert main(["kitti", str(tmp_path / "bag"), "--rgb", str(kitti), "--gt", str(kitti), "--intrinsics", *KITTI_K,
                 "--simulate-scanlines", "64"]) == 2
    assert "same frame key" in capsys.readouterr().err
    nyu = shared_data / "nyu"
    assert main(["kitti", str(tmp_path / "bag"), "--rgb", str(nyu / "rgb_00000.jpg"),
                 "--gt", str(nyu / "sync_depth_00050.png"), "--intrinsics", *KITTI_K,
                 "--simulate-scanlines", "8"]) == 2
    assert "no gt file with frame key '00000'" in capsys.readouterr().err
    assert not (tmp_path / "bag").exists()


def test_frame_keys() -> None:
    assert frame_key(Path("rgb_0000000050.png")) == "0000000050"
    assert frame_key(Path("2011_09_26_drive_0002_sync_image_0000000005_image_02.png")) == "0000000005"
    assert frame_key(Path("sync_depth_00100.png")) == "00100"

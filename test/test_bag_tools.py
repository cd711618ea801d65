"""lingbot-depth-bag converters on the real KITTI / NYU frames in ../shared/data, and KITTI calibration files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.bags.datasets import frame_key, intrinsics_from_values
from lingbot_depth_ros.bags.files import bag_topics, read_frames
from lingbot_depth_ros.cli.bag import main
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.io.kitti import kitti_camera_from_velodyne, kitti_intrinsics

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
    assert topics["/camera/image"][1] == 3 and topics["/camera/lidar_points"][1] == 3
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
    assert main(["kitti", str(tmp_path / "bag"), "--rgb", str(nyu / "rgb_00000.jpg"), str(nyu / "rgb_00100.jpg"),
                 "--gt", str(nyu / "sync_depth_00050.png"), str(nyu / "sync_depth_00100.png"), "--intrinsics",
                 *KITTI_K, "--simulate-scanlines", "8"]) == 2
    assert "no gt file with frame key '00000'" in capsys.readouterr().err
    assert not (tmp_path / "bag").exists()


def test_frame_keys() -> None:
    assert frame_key(Path("rgb_0000000050.png")) == "0000000050"
    assert frame_key(Path("2011_09_26_drive_0002_sync_image_0000000005_image_02.png")) == "0000000005"
    assert frame_key(Path("sync_depth_00100.png")) == "00100"


def _write_frame(folder: Path, names: dict[str, str], size: tuple[int, int] = (30, 20)) -> dict[str, Path]:
    """One tiny frame: rgb PNG, KITTI gt PNG (12 m in the lower half), a 2-point velodyne .bin."""
    width, height = size
    folder.mkdir(parents=True, exist_ok=True)
    gt = np.zeros((height, width), np.uint16)
    gt[height // 2:, :] = 256 * 12
    paths = {role: folder / name for role, name in names.items()}
    cv2.imwrite(str(paths["rgb"]), np.full((height, width, 3), 90, np.uint8))
    cv2.imwrite(str(paths["gt"]), gt)
    if "lidar" in paths:
        np.array([[5.0, 1.0, -0.5, 0.3], [7.0, -2.0, 0.1, 0.9]], "<f4").tofile(paths["lidar"])
    return paths


def test_single_files_pair_whatever_their_names(tmp_path: Path) -> None:
    """cam_02.png + test_image.png + lidar_data.bin: one file per stream is one frame (was: no gt file
    with frame key '02')."""
    files = _write_frame(tmp_path, {"rgb": "cam_02.png", "gt": "test_image.png", "lidar": "lidar_data.bin"})
    assert main(["kitti", str(tmp_path / "bag"), "--rgb", str(files["rgb"]), "--gt", str(files["gt"]),
                 "--lidar-scan", str(files["lidar"]), "--extrinsics", "0", "0", "0", "0", "0", "0",
                 "--intrinsics", "30", "30", "15", "10", "--simulate-scanlines", "4"]) == 0
    (frame,) = read_frames(tmp_path / "bag")
    assert frame.lidar_points is not None and frame.lidar_points.shape == (2, 3)
    assert (frame.depth_gt_m > 0).sum() == 10 * 30


def test_frame_key_pattern(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """frame7_cam2.png / frame7_depth16.png: the longest digit runs differ; --frame-key 'frame(\\d+)' pairs them."""
    for n in (7, 8):
        _write_frame(tmp_path / "in", {"rgb": f"frame{n}_cam2.png", "gt": f"frame{n}_depth16.png"})
    rgb = [str(tmp_path / "in" / f"frame{n}_cam2.png") for n in (7, 8)]
    gt = [str(tmp_path / "in" / f"frame{n}_depth16.png") for n in (7, 8)]
    base = ["kitti", str(tmp_path / "bag"), "--rgb", *rgb, "--gt", *gt, "--intrinsics", "30", "30", "15", "10",
            "--simulate-scanlines", "4"]
    assert main(base) == 2
    assert "--frame-key" in capsys.readouterr().err
    assert main(base + ["--frame-key", r"frame(\d+)_"]) == 0
    assert len(list(read_frames(tmp_path / "bag"))) == 2
    assert main(base[:1] + [str(tmp_path / "bag2")] + base[2:] + ["--frame-key", r"nomatch(\d+)"]) == 2
    assert "does not match the file name frame7_cam2.png" in capsys.readouterr().err
    assert frame_key(Path("frame7_cam2.png"), r"frame\d+") == "frame7"


def test_kitti_camera_is_inferred_from_the_paths_or_refused(shared_data: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An image_03 bag built without --camera gets camera 03's intrinsics and LiDAR transform (it silently
    got image_02's before); paths that do not tell are refused; --camera contradicting them too."""
    kitti = shared_data / "kitti_lidar"
    calib = kitti / "calib" / "calib_cam_to_cam.txt"
    velo = kitti / "calib" / "calib_velo_to_cam.txt"
    scan = tmp_path / "0000000000.bin"
    np.array([[5.0, 1.0, -0.5, 0.3]], "<f4").tofile(scan)

    def args(out: str, camera: str) -> list[str]:
        return ["kitti", str(tmp_path / out), "--rgb", str(kitti / f"image_{camera}" / "0000000000.png"),
                "--gt", str(kitti / "velodyne_raw" / f"image_{camera}" / "0000000000.png"),
                "--simulate-scanlines", "16", "--calib", str(calib), "--lidar-scan", str(scan),
                "--velo-to-cam", str(velo)]

    assert main(args("bag03", "03")) == 0
    (frame,) = read_frames(tmp_path / "bag03")
    expected = kitti_camera_from_velodyne(velo, calib, "03")
    np.testing.assert_allclose(frame.camera_from_lidar, expected, atol=1e-6)  # KITTI R is orthonormal to ~1e-5
    # camera 03 sits 0.54 m right of camera 02 (P_rect_03[0, 3] / fx = -0.47 m vs +0.06 m)
    assert abs(expected[0, 3] - kitti_camera_from_velodyne(velo, calib, "02")[0, 3]) > 0.5
    assert main(args("bad", "03") + ["--camera", "02"]) == 2
    assert "--camera 02 but the input paths are image_03" in capsys.readouterr().err
    # copies outside image_0N folders: the camera cannot be told
    (tmp_path / "plain").mkdir()
    for name, source in (("rgb.png", kitti / "image_03" / "0000000000.png"),
                         ("gt.png", kitti / "velodyne_raw" / "image_03" / "0000000000.png")):
        (tmp_path / "plain" / name).write_bytes(source.read_bytes())
    plain = ["kitti", str(tmp_path / "plain_bag"), "--rgb", str(tmp_path / "plain" / "rgb.png"),
             "--gt", str(tmp_path / "plain" / "gt.png"), "--simulate-scanlines", "16", "--calib", str(calib)]
    assert main(plain) == 2
    assert "cannot tell the KITTI camera from the paths" in capsys.readouterr().err
    assert main(plain + ["--camera", "03"]) == 0


def test_calibration_for_another_image_size_is_refused(shared_data: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A calib_cam_to_cam.txt stating S_rect_02 1216x352 does not fit 1242x375 images (was accepted silently)."""
    kitti = shared_data / "kitti_lidar"
    calib = (kitti / "calib" / "calib_cam_to_cam.txt").read_text()
    other = tmp_path / "calib_1216.txt"
    other.write_text(calib.replace("S_rect_02: 1.242000e+03 3.750000e+02", "S_rect_02: 1.216000e+03 3.520000e+02"))
    with pytest.raises(InputError, match="S_rect_02 is for 1216x352 images, the images are 1242x375"):
        kitti_intrinsics(other, 1242, 375, "02")
    assert kitti_intrinsics(kitti / "calib" / "calib_cam_to_cam.txt", 1242, 375, "02").fx == pytest.approx(721.5377)
    assert main(["kitti", str(tmp_path / "bag"), "--rgb", str(kitti / "image_02" / "0000000000.png"),
                 "--gt", str(kitti / "velodyne_raw" / "image_02" / "0000000000.png"), "--simulate-scanlines", "16",
                 "--calib", str(other)]) == 2
    assert "S_rect_02 is for 1216x352" in capsys.readouterr().err
    assert not (tmp_path / "bag").exists()


def test_intrinsics_values_are_fx_fy_cx_cy() -> None:
    """The converters' intrinsics: four numbers in that order; any other count is an InputError (not a TypeError)."""
    assert intrinsics_from_values([500, 501.5, 320, 240], 640, 480) == CameraIntrinsics(500.0, 501.5, 320.0, 240.0,
                                                                                        640, 480)
    with pytest.raises(InputError, match="4 numbers"):
        intrinsics_from_values([500.0, 500.0, 320.0], 640, 480)

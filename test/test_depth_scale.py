"""16-bit depth units: one conversion for every reader (node, files, bags, server, KITTI), ``--sparse-scale`` on
``predict`` and ``fuse``, and KITTI depth PNGs refused when they would be read as millimetres."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from kitti_raw_drive import CX, CY, FX, FY, lidar_depth_m, write_kitti_raw_drive

from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.depth_files import (
    KITTI_M_PER_UNIT,
    depth_m_from_array,
    depth_m_from_pixels,
    depth_m_from_units,
    load_depth_file,
)
from lingbot_depth_ros.io.kitti import kitti_raw_layout, load_kitti_depth_png
from lingbot_depth_ros.server.codec import decode_sparse_depth

ALL_UNITS = np.arange(65536, dtype=np.uint16).reshape(256, 256)  # every 16-bit value once


def _zero_none(depth: np.ndarray) -> np.ndarray:
    return np.nan_to_num(depth, nan=0.0)


def test_one_conversion_gives_every_reader_the_same_float32(tmp_path: Path) -> None:
    """The node's reading of a 16UC1 message, a depth file (predict, batch, fuse), an HTTP payload and a bag's
    depth image give the very same float32 for every millimetre value (predict multiplied by float32(0.001):
    137 k of 297 k pixels of a frame differed from the node's division by 1000, up to 2.3e-5 m)."""
    node = depth_m_from_pixels(ALL_UNITS)
    exact = ALL_UNITS.astype(np.float32) / np.float32(1000.0)  # correctly rounded mm / 1000
    valid = (ALL_UNITS != 0) & (ALL_UNITS != 0xFFFF)
    assert np.array_equal(node[valid], exact[valid]) and np.isnan(node[~valid]).all()
    png = tmp_path / "all_mm.png"
    assert cv2.imwrite(str(png), ALL_UNITS)
    readers = {
        "file": load_depth_file(png),
        "array": depth_m_from_array(ALL_UNITS),
        "server": decode_sparse_depth(png.read_bytes()),
    }
    for name, depth in readers.items():
        assert depth.dtype == np.float32 and np.array_equal(depth, _zero_none(node)), name
    # KITTI: value / 256 (exact in float32), by the same function
    kitti = depth_m_from_units(ALL_UNITS, KITTI_M_PER_UNIT)
    assert np.array_equal(kitti[valid], ALL_UNITS[valid].astype(np.float32) / np.float32(256.0))
    kitti_png = tmp_path / "velodyne_raw" / "all.png"
    kitti_png.parent.mkdir()
    assert cv2.imwrite(str(kitti_png), ALL_UNITS)
    assert np.array_equal(load_kitti_depth_png(kitti_png), _zero_none(kitti))
    assert np.array_equal(load_depth_file(kitti_png, m_per_unit=KITTI_M_PER_UNIT), _zero_none(kitti))


def test_bag_depth_images_use_the_same_conversion() -> None:
    from rosbags.typesys.stores.ros2_jazzy import builtin_interfaces__msg__Time as Time
    from rosbags.typesys.stores.ros2_jazzy import sensor_msgs__msg__Image as Image
    from rosbags.typesys.stores.ros2_jazzy import std_msgs__msg__Header as Header

    from lingbot_depth_ros.messages.image import depth_m_zero_none

    msg = Image(header=Header(stamp=Time(sec=0, nanosec=0), frame_id="c"), height=256, width=256, encoding="16UC1",
                is_bigendian=0, step=512, data=np.frombuffer(ALL_UNITS.astype("<u2").tobytes(), np.uint8))
    assert np.array_equal(depth_m_zero_none(msg), _zero_none(depth_m_from_pixels(ALL_UNITS)))


@pytest.mark.parametrize("scale", [0.0, -0.001, float("nan"), float("inf")])
def test_unusable_scales_are_refused(scale: float) -> None:
    with pytest.raises(InputError, match="positive number of metres per stored unit"):
        depth_m_from_units(ALL_UNITS, scale)


def _kitti_files(tmp_path: Path) -> tuple[Path, Path]:
    drive = write_kitti_raw_drive(tmp_path / "drive", frames=1)
    return drive / "image_02" / "0000000000.png", drive / "velodyne_raw" / "image_02" / "0000000000.png"


def test_predict_refuses_a_kitti_png_read_as_millimetres(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgb, lidar = _kitti_files(tmp_path)
    args = ["predict", str(rgb), "--sparse-depth", str(lidar), "--intrinsics", str(FX), str(FY), str(CX), str(CY),
            "--estimator", "nearest", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "velodyne_raw" in err[0] and "--sparse-scale 0.00390625" in err[0], err
    assert not (tmp_path / "out" / "0000000000_depth.npy").exists()


@pytest.mark.parametrize("scale", ["1/256", "0.00390625"])
def test_predict_sparse_scale_reads_kitti_metres(tmp_path: Path, scale: str) -> None:
    """With the KITTI unit the samples come out at their true range (nearest fill: exactly the samples' depth
    at their pixels); the review's x0.256 (mm) reading would put the ground 4x too near."""
    rgb, lidar = _kitti_files(tmp_path)
    out = tmp_path / "out"
    assert main(["predict", str(rgb), "--sparse-depth", str(lidar), "--sparse-scale", scale, "--intrinsics",
                 str(FX), str(FY), str(CX), str(CY), "--estimator", "nearest", "--out", str(out), "--quiet"]) == 0
    depth = np.load(out / "0000000000_depth.npy")
    truth = np.round(lidar_depth_m(0) * 256.0) / 256.0
    samples = truth > 0
    assert np.allclose(depth[samples], truth[samples], rtol=0, atol=1e-6)
    assert 5.0 < float(np.median(depth[samples])) < 40.0


def test_predict_sparse_scale_applies_to_millimetre_files_too(tmp_path: Path) -> None:
    """An explicit 0.001 reads a KITTI-named file as millimetres (the user's call); a plain mm PNG needs no flag."""
    rgb, lidar = _kitti_files(tmp_path)
    k = [str(FX), str(FY), str(CX), str(CY)]
    assert main(["predict", str(rgb), "--sparse-depth", str(lidar), "--sparse-scale", "0.001", "--intrinsics", *k,
                 "--estimator", "nearest", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    mm_png = tmp_path / "plain" / "lidar_mm.png"
    mm_png.parent.mkdir()
    cv2.imwrite(str(mm_png), cv2.imread(str(lidar), cv2.IMREAD_UNCHANGED))
    assert main(["predict", str(rgb), "--sparse-depth", str(mm_png), "--intrinsics", *k, "--estimator", "nearest",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    a, b = np.load(tmp_path / "a" / "0000000000_depth.npy"), np.load(tmp_path / "b" / "0000000000_depth.npy")
    assert np.array_equal(a, b, equal_nan=True)
    assert np.nanmax(a) < 40.0 * 0.256 + 0.01  # millimetres: 0.256 x the KITTI metres


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "1/0", "abc"])
def test_bad_sparse_scale_is_one_argparse_line(tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    rgb, lidar = _kitti_files(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(rgb), "--sparse-depth", str(lidar), "--sparse-scale", bad, "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--sparse-scale" in err and "metres per stored unit" in err and "Traceback" not in err


def test_kitti_raw_layout_is_one_detection_for_the_image_folder_and_the_drive(tmp_path: Path) -> None:
    drive = write_kitti_raw_drive(tmp_path / "drive", frames=1)
    by_folder, by_drive = kitti_raw_layout(drive / "image_02"), kitti_raw_layout(drive)
    assert by_folder == by_drive and by_folder is not None
    assert by_folder.camera == "02" and by_folder.sparse == drive / "velodyne_raw" / "image_02"
    assert by_folder.calib == drive / "calib" / "calib_cam_to_cam.txt"
    assert kitti_raw_layout(drive, camera="03") is None  # no image_03 in this drive
    assert kitti_raw_layout(tmp_path) is None


def test_fuse_reads_its_layouts_lidar_as_kitti_metres(tmp_path: Path) -> None:
    from lingbot_depth_ros.fusion.offline import folder_frames

    drive = write_kitti_raw_drive(tmp_path / "drive", frames=2)
    truth = np.round(lidar_depth_m(0) * 256.0) / 256.0
    for sparse_dir in (None, drive / "velodyne_raw" / "image_02"):  # by default, or named: the layout's own
        frame = next(folder_frames(drive / "image_02", sparse_dir=sparse_dir, depth_dir=None, intrinsics=None,
                                   calib=None))
        assert np.array_equal(frame.sparse_depth_m, truth)
        assert (frame.intrinsics.fx, frame.intrinsics.cx) == (FX, CX)


def test_fuse_sparse_scale_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``fuse --sparse DIR`` of KITTI-named files without the scale: one line, exit 2, before any fusion;
    ``--sparse-scale`` / ``--depth-scale`` read them (the scale reaches the depth reader)."""
    from lingbot_depth_ros.fusion.offline import folder_frames

    drive = write_kitti_raw_drive(tmp_path / "drive", frames=2)
    copy = tmp_path / "other" / "velodyne_raw"  # the same files outside the layout: not the layout's own
    copy.mkdir(parents=True)
    for src in (drive / "velodyne_raw" / "image_02").iterdir():
        (copy / src.name).write_bytes(src.read_bytes())
    assert main(["fuse", str(drive / "image_02"), "--sparse", str(copy), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "velodyne_raw" in err[0] and "--sparse-scale" in err[0], err
    truth = np.round(lidar_depth_m(0) * 256.0) / 256.0
    frame = next(folder_frames(drive / "image_02", sparse_dir=copy, depth_dir=None, intrinsics=None, calib=None,
                               sparse_scale=KITTI_M_PER_UNIT))
    assert np.array_equal(frame.sparse_depth_m, truth)
    dense = tmp_path / "dense"  # --depth files in decimetres, read with --depth-scale 0.1
    dense.mkdir()
    for i in range(2):
        cv2.imwrite(str(dense / f"{i:010d}.png"), np.full((64, 160), 55, np.uint16))
    frame = next(folder_frames(drive / "image_02", sparse_dir=None, depth_dir=dense, intrinsics=None, calib=None,
                               sparse_scale=0.1))
    assert np.allclose(frame.depth_m, 5.5)
    assert main(["fuse", str(drive / "image_02"), "--depth", str(dense), "--depth-scale", "0.1", "--out",
                 str(tmp_path / "fused"), "--voxel", "0.2", "--max-depth", "10", "--no-picture", "--quiet"]) == 0

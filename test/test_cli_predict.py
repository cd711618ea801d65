"""`lingbot-depth predict` on real NYU frames: the files it writes and the errors it reports."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.camera_info_yaml import load_camera_info_yaml
from lingbot_depth_ros.io.ply import read_ply

NYU_K = (518.8579, 519.46961, 325.58245, 253.73617)
OUTPUTS = ("_depth.npy", "_depth_mm.png", "_depth_color.png", "_points.ply")


def sparse_png(shared_data: Path, frame: str, folder: Path, name: str | None = None) -> Path:
    """A 1-in-144 sample of the NYU ground truth as a 16-bit PNG [mm]."""
    gt_mm = cv2.imread(str(shared_data / "nyu" / f"sync_depth_{frame}.png"), cv2.IMREAD_UNCHANGED)
    sparse = np.zeros_like(gt_mm)
    sparse[::12, ::12] = gt_mm[::12, ::12]
    path = folder / (name or f"sparse_{frame}.png")
    folder.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), sparse)
    return path


def test_single_image_writes_all_products_consistently(shared_data: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    image = shared_data / "nyu" / "rgb_00000.jpg"
    sparse = sparse_png(shared_data, "00000", tmp_path)
    out = tmp_path / "out"
    code = main(["predict", str(image), "--sparse-depth", str(sparse), "--intrinsics", *map(str, NYU_K),
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / f"rgb_00000{suffix}") for suffix in OUTPUTS]

    depth = np.load(out / "rgb_00000_depth.npy")
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    valid = np.isfinite(depth)
    gt_m = cv2.imread(str(shared_data / "nyu" / "sync_depth_00000.png"), cv2.IMREAD_UNCHANGED) / 1000.0
    check = valid & (gt_m > 0)
    assert np.median(np.abs(depth[check] - gt_m[check]) / gt_m[check]) < 0.05

    depth_mm = cv2.imread(str(out / "rgb_00000_depth_mm.png"), cv2.IMREAD_UNCHANGED)
    assert depth_mm.dtype == np.uint16 and depth_mm.shape == (480, 640)
    assert np.abs(depth_mm[valid] / 1000.0 - depth[valid]).max() <= 0.0006
    assert (depth_mm[~valid] == 0).all()

    colour = cv2.imread(str(out / "rgb_00000_depth_color.png"), cv2.IMREAD_UNCHANGED)
    assert colour.shape == (480, 640, 3) and colour.std() > 10

    xyz, rgb = read_ply(out / "rgb_00000_points.ply")
    assert xyz.shape == (int(valid.sum()), 3) and rgb is not None
    v, u = np.nonzero(valid)
    np.testing.assert_allclose(xyz[:, 2], depth[valid], rtol=1e-6)
    np.testing.assert_allclose(xyz[:, 0], (u - NYU_K[2]) * depth[valid] / NYU_K[0], rtol=1e-4, atol=1e-5)
    image_rgb = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rgb, image_rgb[valid])


def test_camera_info_yaml_layouts_match_intrinsics_flags(shared_data: Path, tmp_path: Path) -> None:
    fx, fy, cx, cy = NYU_K
    calibration = tmp_path / "calib.yaml"
    calibration.write_text(yaml.safe_dump({
        "image_width": 640, "image_height": 480, "camera_name": "nyu",
        "camera_matrix": {"rows": 3, "cols": 3, "data": [fx, 0, cx, 0, fy, cy, 0, 0, 1]},
        "distortion_model": "plumb_bob", "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0] * 5}}))
    message = tmp_path / "camera_info.yaml"
    message.write_text(yaml.safe_dump({"header": {"frame_id": "cam"}, "height": 480, "width": 640,
                                       "k": [fx, 0, cx, 0, fy, cy, 0, 0, 1]}))
    for path in (calibration, message):
        k = load_camera_info_yaml(path)
        assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (fx, fy, cx, cy, 640, 480)
    image = shared_data / "nyu" / "rgb_00050.jpg"
    sparse = sparse_png(shared_data, "00050", tmp_path)
    assert main(["predict", str(image), "--sparse-depth", str(sparse), "--camera-info", str(calibration),
                 "--out", str(tmp_path / "a")]) == 0
    assert main(["predict", str(image), "--sparse-depth", str(sparse), "--intrinsics", *map(str, NYU_K),
                 "--out", str(tmp_path / "b")]) == 0
    a, _ = read_ply(tmp_path / "a" / "rgb_00050_points.ply")
    b, _ = read_ply(tmp_path / "b" / "rgb_00050_points.ply")
    np.testing.assert_array_equal(a, b)


def test_sparse_npy_and_tiff_in_metres_equal_png_in_millimetres(shared_data: Path, tmp_path: Path) -> None:
    image = shared_data / "nyu" / "rgb_00100.jpg"
    png = sparse_png(shared_data, "00100", tmp_path)
    sparse_m = cv2.imread(str(png), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
    np.save(tmp_path / "sparse.npy", sparse_m)
    assert cv2.imwrite(str(tmp_path / "sparse.tiff"), sparse_m)
    results = []
    for name, sparse in (("png", png), ("npy", tmp_path / "sparse.npy"), ("tiff", tmp_path / "sparse.tiff")):
        assert main(["predict", str(image), "--sparse-depth", str(sparse), "--out", str(tmp_path / name)]) == 0
        results.append(np.load(tmp_path / name / "rgb_00100_depth.npy"))
    np.testing.assert_allclose(results[1], results[0], atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(results[2], results[0], atol=1e-5, equal_nan=True)


def test_folder_batch_pairs_by_stem(shared_data: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    sparse_dir = tmp_path / "sparse"
    for frame in ("00000", "00050"):
        shutil.copy(shared_data / "nyu" / f"rgb_{frame}.jpg", images / f"frame_{frame}.jpg")
        sparse_png(shared_data, frame, sparse_dir, f"frame_{frame}.png")
    out = tmp_path / "out"
    # The console script's real entry, in a subprocess: exit code, and no progress bar in a log (stderr a pipe,
    # read as bytes to see any \r; the bar on a terminal: test_progress.py).
    done = subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.main", "predict", str(images),
                           "--sparse-depth", str(sparse_dir), "--out", str(out)],
                          capture_output=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stderr and b"predict:" not in done.stderr and b"2/2 images written" in done.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"frame_{f}{s}" for f in ("00000", "00050") for s in OUTPUTS)


def test_batch_reports_images_without_sparse_files(shared_data: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(shared_data / "nyu" / "rgb_00000.jpg", images / "a.jpg")
    shutil.copy(shared_data / "nyu" / "rgb_00050.jpg", images / "b.jpg")
    sparse_dir = tmp_path / "sparse"
    sparse_png(shared_data, "00000", sparse_dir, "a.png")
    assert main(["predict", str(images), "--sparse-depth", str(sparse_dir), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no sparse depth file" in err and "b.jpg" in err and "a.jpg" not in err, err


@pytest.mark.parametrize("case", ["8-bit sparse", "monocular on classical", "missing image", "size mismatch",
                                  "camera info for another size", "folder with a sparse file",
                                  "completion without sparse"])
def test_bad_usage_exits_2_with_a_specific_message(shared_data: Path, tmp_path: Path, case: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    image = shared_data / "nyu" / "rgb_00000.jpg"
    sparse = sparse_png(shared_data, "00000", tmp_path)
    out = ["--out", str(tmp_path / "out")]
    if case == "8-bit sparse":
        eight = tmp_path / "eight.png"
        cv2.imwrite(str(eight), np.full((480, 640), 30, np.uint8))
        argv, expected = ["predict", str(image), "--sparse-depth", str(eight)], "8-bit image cannot carry metric"
    elif case == "monocular on classical":
        argv, expected = ["predict", str(image), "--mode", "monocular"], "cannot run mode 'monocular'"
    elif case == "missing image":
        argv, expected = ["predict", str(tmp_path / "nope.jpg")], "image not found"
    elif case == "size mismatch":
        small = tmp_path / "small.png"
        cv2.imwrite(str(small), np.ones((240, 320), np.uint16))
        argv, expected = ["predict", str(image), "--sparse-depth", str(small)], "is 320x240 but"
    elif case == "camera info for another size":
        calib = tmp_path / "c.yaml"
        calib.write_text(yaml.safe_dump({"image_width": 1280, "image_height": 960,
                                          "camera_matrix": {"data": [1000, 0, 640, 0, 1000, 480, 0, 0, 1]}}))
        argv = ["predict", str(image), "--sparse-depth", str(sparse), "--camera-info", str(calib)]
        expected = "is for 1280x960 images but the image is 640x480"
    elif case == "folder with a sparse file":
        argv, expected = ["predict", str(image.parent), "--sparse-depth", str(sparse)], "must be a folder"
    else:
        argv, expected = ["predict", str(image), "--mode", "completion"], "needs sparse depth"
    assert main(argv + out) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_camera_info_errors_are_specific(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_width: 640\nimage_height: 480\n")
    with pytest.raises(InputError, match="no 'camera_matrix'"):
        load_camera_info_yaml(bad)
    bad.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {data: [1, 2, 3]}\n")
    with pytest.raises(InputError, match="9 numbers"):
        load_camera_info_yaml(bad)
    bad.write_text("width: 640\nheight: 480\nk: [0, 0, 320, 0, 500, 240, 0, 0, 1]\n")
    with pytest.raises(InputError, match="focal lengths must be > 0"):
        load_camera_info_yaml(bad)


def test_monocular_with_a_tiny_lingbot_checkpoint(shared_data: Path, tmp_path: Path) -> None:
    testing = pytest.importorskip("lingbot_depth_ros.testing.lingbot_checkpoints", reason="torch is not installed")
    checkpoint = testing.make_tiny_checkpoint(tmp_path / "model.pt", seed=0)
    out = tmp_path / "out"
    code = main(["predict", str(shared_data / "nyu" / "rgb_00000.jpg"), "--estimator", "lingbot",
                 "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(out)])
    assert code == 0
    depth = np.load(out / "rgb_00000_depth.npy")
    assert depth.shape == (480, 640) and 1.0 < float(np.nanmedian(depth)) < 4.0  # tiny model: about 2 m
    xyz, rgb = read_ply(out / "rgb_00000_points.ply")
    assert xyz.shape[0] == int(np.isfinite(depth).sum()) and rgb is not None


def test_batch_goes_on_after_a_bad_image_and_exits_1(shared_data: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    images.mkdir()
    sparse_dir = tmp_path / "sparse"
    shutil.copy(shared_data / "nyu" / "rgb_00000.jpg", images / "a.jpg")
    sparse_png(shared_data, "00000", sparse_dir, "a.png")
    (images / "b.jpg").write_bytes(b"not a jpeg at all")
    sparse_png(shared_data, "00050", sparse_dir, "b.png")
    assert main(["predict", str(images), "--sparse-depth", str(sparse_dir), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "b.jpg: error:" in err and "cannot decode image" in err and "1/2 images written" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(f"a{s}" for s in OUTPUTS)


def test_big_endian_float_npy_gives_the_same_depth_as_native(shared_data: Path, tmp_path: Path) -> None:
    image = shared_data / "nyu" / "rgb_00000.jpg"
    sparse_mm = cv2.imread(str(sparse_png(shared_data, "00000", tmp_path)), cv2.IMREAD_UNCHANGED)
    sparse_m = sparse_mm.astype(np.float32) / 1000.0
    results = []
    for name, dtype in (("native", "<f4"), ("big", ">f4"), ("big64", ">f8")):
        np.save(tmp_path / f"{name}.npy", sparse_m.astype(dtype))
        assert main(["predict", str(image), "--sparse-depth", str(tmp_path / f"{name}.npy"),
                     "--out", str(tmp_path / name)]) == 0
        results.append(np.load(tmp_path / name / "rgb_00000_depth.npy"))
    assert np.isfinite(results[0]).mean() > 0.8
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])


def _npy_claiming(shape: tuple[int, int]) -> bytes:
    """A real .npy header (float32) that declares ``shape`` followed by only 16 bytes of data."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2), np.float32))
    header["shape"] = shape
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue() + bytes(16)


def _png_claiming(width: int, height: int) -> bytes:
    """A real 4x4 PNG whose IHDR (with a valid CRC) claims ``width`` x ``height``."""
    raw = bytearray(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    ihdr = bytearray(raw[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    raw[12:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(raw)


# name: (what the case writes into tmp_path -> argv after "predict", fragment of the one-line error)
HOSTILE_CASES = {
    "0-byte npy": (lambda t, img: [img, "--sparse-depth", _write(t / "e.npy", b"")], "empty .npy file"),
    "npy header 100000x100000": (lambda t, img: [img, "--sparse-depth",
                                                 _write(t / "b.npy", _npy_claiming((100000, 100000)))],
                                 "image too large: 100000x100000"),
    "npy header larger than its data": (lambda t, img: [img, "--sparse-depth",
                                                        _write(t / "t.npy", _npy_claiming((480, 640)))],
                                        "but the file holds only 16 bytes"),
    "png header 40000x40000": (lambda t, img: [_write(t / "bomb.png", _png_claiming(40000, 40000))],
                               "image too large: 40000x40000"),
    "sparse png header 40000x40000": (lambda t, img: [img, "--sparse-depth",
                                                      _write(t / "s.png", _png_claiming(40000, 40000))],
                                      "image too large: 40000x40000"),
    "0-byte image": (lambda t, img: [_write(t / "empty.jpg", b"")], "empty file (0 bytes)"),
    "out is a file": (lambda t, img: [img, "--out", _write(t / "file", b"x")], "is a file; give a folder"),
    "out inside a file": (lambda t, img: [img, "--out", _write(t / "file", b"x") + "/sub"],
                          "lies inside the file"),
    "out under /proc": (lambda t, img: [img, "--out", "/proc/lingbot_depth_out"], "cannot write there"),
}


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("case", sorted(HOSTILE_CASES))
def test_hostile_files_and_outputs_give_one_line_and_exit_2(shared_data: Path, tmp_path: Path, case: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    make_argv, fragment = HOSTILE_CASES[case]
    argv = ["predict", *make_argv(tmp_path, str(shared_data / "nyu" / "rgb_00000.jpg"))]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_max_pixels_option_bounds_ordinary_images(shared_data: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    image = str(shared_data / "nyu" / "rgb_00000.jpg")
    assert main(["predict", image, "--max-pixels", str(640 * 480 - 1), "--out", str(tmp_path / "o")]) == 2
    assert "image too large: 640x480 = 307200 pixels exceeds the limit of 307199" in capsys.readouterr().err
    # A file far larger than any encoding of that many pixels is not even read (2 MB of zeros).
    big = tmp_path / "big.png"
    with big.open("wb") as stream:
        stream.truncate(2_000_000)
    assert main(["predict", str(big), "--max-pixels", "1000", "--out", str(tmp_path / "o")]) == 2
    assert "file of 2000000 bytes is too large for an image of at most 1000 pixels" in capsys.readouterr().err

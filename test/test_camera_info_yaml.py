"""`--camera-info` YAML files are untrusted: bounded time, memory and output on hostile documents."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.camera_info_yaml import MAX_CAMERA_INFO_BYTES, load_camera_info_yaml

# The classic "billion laughs" document: 9 levels of 9 aliases, about 350 bytes, ~390 million
# strings once expanded (PyYAML's safe_load needs tens of seconds and gigabytes for it).
BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
image_width: 640
image_height: 480
camera_matrix: {rows: 3, cols: 3, data: *i}
"""

CALIBRATION = """\
image_width: 640
image_height: 480
camera_name: nyu
camera_matrix: {rows: 3, cols: 3, data: [518.86, 0, 325.58, 0, 519.47, 253.74, 0, 0, 1]}
"""


def test_billion_laughs_is_refused_quickly_with_one_short_line(shared_data: Path, tmp_path: Path) -> None:
    calib = tmp_path / "laughs.yaml"
    calib.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS.encode()) < 600
    stderr_path = tmp_path / "stderr.txt"
    started = time.monotonic()
    # The real console entry in a subprocess, stderr to a file: before the fix this ran for ~30 s and
    # wrote over a gigabyte; the timeout keeps a regression from taking the machine with it.
    with stderr_path.open("wb") as stderr:
        done = subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.main", "predict",
                               str(shared_data / "nyu" / "rgb_00000.jpg"), "--camera-info", str(calib),
                               "--out", str(tmp_path / "out")],
                              stdout=subprocess.PIPE, stderr=stderr, timeout=20, env=dict(os.environ))
    elapsed = time.monotonic() - started
    err = stderr_path.read_bytes()
    assert done.returncode == 2, err[:1000]
    assert len(err) < 1024 and err.count(b"\n") == 1, err[:1000]
    assert b"anchors and aliases" in err and b"lol" not in err, err
    assert elapsed < 20


@pytest.mark.parametrize("text", ["a: &x 1\nb: 2\n", "a: &x [1, 2]\nb: *x\n", "<<: &base {width: 1}\n"])
def test_any_anchor_or_alias_is_refused(tmp_path: Path, text: str) -> None:
    calib = tmp_path / "c.yaml"
    calib.write_text(CALIBRATION + text)
    with pytest.raises(InputError, match=r"line \d+, column \d+: YAML anchors and aliases"):
        load_camera_info_yaml(calib)


def test_a_plain_calibration_file_still_loads(tmp_path: Path) -> None:
    calib = tmp_path / "c.yaml"
    calib.write_text(CALIBRATION)
    k = load_camera_info_yaml(calib)
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (518.86, 519.47, 325.58, 253.74, 640, 480)


def test_oversized_binary_and_deeply_nested_files_are_refused(tmp_path: Path) -> None:
    calib = tmp_path / "c.yaml"
    calib.write_text(CALIBRATION + "# padding\n" * (MAX_CAMERA_INFO_BYTES // 10))
    with pytest.raises(InputError, match=f"larger than {MAX_CAMERA_INFO_BYTES} bytes"):
        load_camera_info_yaml(calib)
    calib.write_bytes(b"image_width: \xff\xfe\x00 640\n")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        load_camera_info_yaml(calib)
    calib.write_text("k: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        load_camera_info_yaml(calib)


def test_errors_summarize_values_instead_of_echoing_them(tmp_path: Path) -> None:
    calib = tmp_path / "c.yaml"
    calib.write_text("width: 640\nheight: 480\nk: [" + ", ".join(["lots"] * 5000) + "]\n")
    with pytest.raises(InputError) as info:
        load_camera_info_yaml(calib)
    assert "9 numbers" in str(info.value) and "lots" not in str(info.value) and len(str(info.value)) < 300
    calib.write_text("width: [" + ", ".join(["640"] * 5000) + "]\nheight: 480\nk: [1, 0, 1, 0, 1, 1, 0, 0, 1]\n")
    with pytest.raises(InputError) as info:
        load_camera_info_yaml(calib)
    assert "a list of 5000 entries" in str(info.value) and len(str(info.value)) < 300

"""The demo (make demo) end to end with a few frames: node process, replay, files on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.bags.files import read_frames
from lingbot_depth_ros.io.ply import read_ply

pytestmark = pytest.mark.ros


def test_demo_writes_depth_cloud_and_report(tmp_path: Path) -> None:
    out = tmp_path / "demo_output"
    result = subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.demo", "--out", str(out), "--frames", "4",
                             "--width", "320", "--height", "240", "--rate", "max"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "classical: 4/4 frames" in result.stdout and "nearest: 4/4 frames" in result.stdout
    assert "vs ground truth: RMSE" in result.stdout

    frames = list(read_frames(out / "bag"))
    assert len(frames) == 4
    for index, frame in enumerate(frames):
        png = cv2.imread(str(out / "depth" / f"frame_{index:04d}.png"), cv2.IMREAD_UNCHANGED)
        npy = np.load(out / "depth" / f"frame_{index:04d}.npy")
        assert png.dtype == np.uint16 and png.shape == (240, 320)
        assert npy.dtype == np.float32 and npy.shape == (240, 320)
        valid = np.isfinite(npy) & (npy > 0)
        assert valid.mean() > 0.5
        np.testing.assert_allclose(png[valid] / 1000.0, npy[valid], atol=0.0006)  # PNG is the NPY in mm
        # The node's depth is close to the scene's ground truth where it answered.
        assert np.median(np.abs(npy[valid] - frame.depth_gt_m[valid])) < 0.1

    (ply,) = out.glob("cloud_*.ply")
    xyz, rgb = read_ply(ply)
    assert xyz.shape[0] > 1000 and rgb is not None and rgb.shape == xyz.shape
    assert np.isfinite(xyz).all() and (xyz[:, 2] > 0).all()  # optical frame: in front of the camera

    report = json.loads((out / "report" / "report.json").read_text())
    assert [run["label"] for run in report["runs"]] == ["classical", "nearest"]
    assert (out / "report" / "report.md").is_file() and (out / "report" / "error_vs_distance.png").is_file()
    assert len(list((out / "report" / "frames").glob("frame_*.png"))) == 4


@pytest.mark.parametrize("rate", ["abc", "0", "-1"])
def test_demo_refuses_a_bad_rate_in_one_line(tmp_path: Path, rate: str) -> None:
    result = subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.demo", "--out", str(tmp_path / "out"),
                             "--rate", rate], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"lingbot-depth-demo: error: --rate must be > 0 or 'max', got {rate}\n"
    assert not (tmp_path / "out").exists()  # refused before anything was rendered

"""A robot install without the optional pip extras (torch, safetensors, huggingface_hub, rosbags).

The node and the CLI run the weight-free estimators without ever importing torch; a feature that needs
a missing extra fails with one line naming the pip package. The extras are made unimportable in the
child processes by a ``sitecustomize`` module that records every attempt to import them. tqdm (progress bars)
and jsonschema (report validation) are not extras but run-time dependencies, in package.xml and setup.py
(test_package_layout.py): small packages from Ubuntu's archive that rosdep installs on every robot.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from ros_harness import node_with_harness

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.ros.image_codec import depth_m_from_image

EXTRAS = ("torch", "safetensors", "huggingface_hub", "rosbags")

SITECUSTOMIZE = '''
import atexit, os, sys

BLOCKED = {blocked!r}
attempts = []


class _Blocker:
    """Meta-path finder: importing a blocked top-level package fails like a missing install."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Blocker())


@atexit.register
def _report():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    with open(os.environ["EXTRAS_REPORT"], "a") as f:
        f.write(f"attempts={{sorted(set(attempts))}} loaded={{loaded}}\\n")
'''


@pytest.fixture
def without_extras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Child processes started after this see no torch/safetensors/huggingface_hub/rosbags; returns the report."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=EXTRAS))
    report = tmp_path / "extras_report.txt"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ["PYTHONPATH"]]))
    monkeypatch.setenv("EXTRAS_REPORT", str(report))
    return report


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def _scene(height: int = 96, width: int = 128) -> tuple[np.ndarray, np.ndarray, CameraIntrinsics]:
    """(H, W, 3) uint8 RGB, (H, W) float32 sparse depth [m] (a plane at 1.5-2.5 m, every 8th pixel)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    depth_m = np.linspace(1.5, 2.5, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    sparse_m = np.zeros_like(depth_m)
    sparse_m[::8, ::8] = np.round(depth_m[::8, ::8] * 1000) / 1000
    return rgb, sparse_m, CameraIntrinsics(100.0, 100.0, width / 2, height / 2, width, height)


def test_blocker_really_blocks(without_extras: Path) -> None:
    result = _run(["-c", "import torch"])
    assert result.returncode != 0 and "No module named 'torch'" in result.stderr, result.stderr
    assert "attempts=['torch']" in without_extras.read_text()


@pytest.mark.ros
@pytest.mark.parametrize("estimator", ["classical", "nearest"])
def test_node_publishes_depth_without_torch(without_extras: Path, tmp_path: Path, estimator: str) -> None:
    rgb, sparse_m, intrinsics = _scene()
    stamp = 1_700_000_000_000_000_000
    with node_with_harness({"estimator": estimator, "mode": "completion"}, tmp_path / "node.log") as (node, harness):
        harness.publish_frame(rgb, intrinsics, sparse_m, stamp)
        rec = harness.recorders["depth/image"]
        assert rec.wait(lambda msgs: rec.by_stamp(stamp) is not None, 60), node.log()
        depth_m = depth_m_from_image(rec.by_stamp(stamp))
    assert depth_m.shape == sparse_m.shape
    samples = sparse_m > 0
    np.testing.assert_allclose(depth_m[samples], sparse_m[samples], atol=0.01)
    assert "attempts=[] loaded=[]" in without_extras.read_text(), without_extras.read_text()


def test_cli_predict_classical_without_torch(without_extras: Path, tmp_path: Path) -> None:
    rgb, sparse_m, intrinsics = _scene()
    image, sparse, out = tmp_path / "frame.png", tmp_path / "frame_sparse.png", tmp_path / "out"
    cv2.imwrite(str(image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(sparse), np.round(sparse_m * 1000).astype(np.uint16))
    result = _run(["-m", "lingbot_depth_ros.cli.main", "predict", str(image), "--sparse-depth", str(sparse),
                   "--intrinsics", str(intrinsics.fx), str(intrinsics.fy), str(intrinsics.cx), str(intrinsics.cy),
                   "--estimator", "classical", "--out", str(out), "--quiet"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(out.iterdir()), "predict wrote nothing"
    assert without_extras.read_text().strip() == "attempts=[] loaded=[]"


def test_lingbot_estimator_without_torch_is_one_clear_line(without_extras: Path, tmp_path: Path) -> None:
    rgb, _, intrinsics = _scene()
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), rgb)
    result = _run(["-m", "lingbot_depth_ros.cli.main", "predict", str(image), "--estimator", "lingbot",
                   "--intrinsics", "100", "100", "64", "48", "--out", str(tmp_path / "out")])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "lingbot-depth predict: error: estimator 'lingbot' needs the Python package torch, not installed: "
        "python3 -m pip install torch (for a CUDA GPU see README 'GPU on the robot')"]


@pytest.mark.ros
def test_node_with_lingbot_without_torch_refuses_start_in_one_line(without_extras: Path, tmp_path: Path) -> None:
    result = _run(["-m", "lingbot_depth_ros.ros.depth_node", "--ros-args", "-p", "estimator:=lingbot"], timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "FATAL: estimator 'lingbot' needs the Python package torch" in result.stderr, result.stderr


TOOLS = [("bag_main", "lingbot-depth-bag", ["info", "some.bag"], "rosbags"),
         ("eval_main", "lingbot-depth-eval", ["some.bag"], "rosbags"),
         ("export_main", "lingbot-depth-export", ["model.pt", "out"], "torch, safetensors"),
         ("demo_main", "lingbot-depth-demo", [], "rosbags")]


@pytest.mark.parametrize(("entry", "tool", "args", "needs"), TOOLS)
def test_tools_without_their_extras_name_the_pip_package(without_extras: Path, entry: str, tool: str,
                                                         args: list[str], needs: str) -> None:
    code = f"import sys; from lingbot_depth_ros.cli.tools import {entry}; sys.exit({entry}({args!r}))"
    result = _run(["-c", code])
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{tool}: error: {tool} needs the Python package{'s' if ',' in needs else ''} {needs}, not installed: "
        f"python3 -m pip install {needs.replace(',', '')}" + (" (for a CUDA GPU see README 'GPU on the robot')"
                                                             if "torch" in needs else "")]

"""The per-pixel confidence off the robot (issue 20 §1): ``lingbot-depth predict --confidence`` (NPY + 16-bit PNG),
the HTTP API's optional ``confidence_npy`` (and the client), and the batch's ``confidence_npy/`` folder."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from server_process import running_cli

from lingbot_depth_ros.batch.params import node_values
from lingbot_depth_ros.batch.sources import Frame, Unit
from lingbot_depth_ros.batch.worker import UnitProcessor, WorkerConfig
from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.io.depth_files import save_depth_png_mm
from lingbot_depth_ros.server.client import DepthApiClient
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator
from lingbot_depth_ros.synthetic.generator import SceneFrame


@pytest.fixture(scope="module")
def scene() -> list[SceneFrame]:
    return list(SceneGenerator(160, 120, seed=7, n_boxes=6, lidar=LidarConfig.preset(32)).frames(2))


def _files(scene: list[SceneFrame], folder: Path) -> tuple[Path, Path, list[str]]:
    """The first frame as rgb.png + sparse.png [mm], and its intrinsics as --intrinsics arguments."""
    frame = scene[0]
    folder.mkdir(parents=True, exist_ok=True)
    rgb = folder / "rgb.png"
    assert cv2.imwrite(str(rgb), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    sparse = save_depth_png_mm(folder / "sparse.png", frame.sparse_depth_m)
    k = frame.intrinsics
    return rgb, sparse, [str(v) for v in (k.fx, k.fy, k.cx, k.cy)]


def _check_map(confidence: np.ndarray, depth: np.ndarray) -> None:
    assert confidence.dtype == np.float32 and confidence.shape == depth.shape
    assert np.isnan(depth).any() and np.array_equal(np.isnan(confidence), np.isnan(depth))
    values = confidence[np.isfinite(confidence)]
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.std() > 0.01


def test_predict_writes_the_confidence_only_when_asked(scene: list[SceneFrame], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rgb, sparse, k = _files(scene, tmp_path)
    out = tmp_path / "out"
    assert main(["predict", str(rgb), "--sparse-depth", str(sparse), "--intrinsics", *k, "--out", str(out),
                 "--confidence"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-2:] == [str(out / "rgb_confidence.npy"), str(out / "rgb_confidence.png")]
    depth = np.load(out / "rgb_depth.npy")
    confidence = np.load(out / "rgb_confidence.npy")
    _check_map(confidence, depth)
    png = cv2.imread(str(out / "rgb_confidence.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == depth.shape
    valid = np.isfinite(depth)
    assert (png[~valid] == 0).all()
    assert np.abs(png[valid] / 65535.0 - confidence[valid]).max() <= 1.0 / 65535
    plain = tmp_path / "plain"
    assert main(["predict", str(rgb), "--sparse-depth", str(sparse), "--intrinsics", *k, "--out", str(plain)]) == 0
    assert not list(plain.glob("*confidence*"))


def _decode(text: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


def test_api_returns_the_confidence_as_an_optional_field(scene: list[SceneFrame], tmp_path: Path) -> None:
    rgb, sparse, k = _files(scene, tmp_path)
    body = {"image": base64.b64encode(rgb.read_bytes()).decode(), "mode": "completion",
            "sparse_depth": base64.b64encode(sparse.read_bytes()).decode(),
            "camera_intrinsics": dict(zip(("fx", "fy", "cx", "cy"), map(float, k)))}
    with running_cli(["serve", "--estimator", "classical"], "/health") as server:
        asked = httpx.post(server.url + "/predict", json=dict(body, confidence=True), timeout=60)
        assert asked.status_code == 200, asked.text
        answer = asked.json()
        _check_map(_decode(answer["confidence_npy"]), _decode(answer["depth_npy"]))
        plain = httpx.post(server.url + "/predict", json=body, timeout=60).json()
        assert plain["confidence_npy"] is None
        refused = httpx.post(server.url + "/predict", json=dict(body, confidence="maybe"), timeout=60)
        assert refused.status_code == 422 and "confidence" in refused.text
        client = DepthApiClient(server.url).predict(rgb.read_bytes(), mode="completion",
                                                    sparse_depth=sparse.read_bytes(),
                                                    intrinsics=tuple(map(float, k)), confidence=True)
        assert client.confidence is not None and "confidence_npy" not in client.response
        _check_map(client.confidence, client.depth_m)
        assert DepthApiClient(server.url).predict(rgb.read_bytes(), mode="completion",
                                                  sparse_depth=sparse.read_bytes()).confidence is None


@pytest.mark.parametrize("enabled", [True, False])
def test_batch_writes_confidence_npy_with_the_parameter(scene: list[SceneFrame], tmp_path: Path,
                                                        enabled: bool) -> None:
    values = node_values([f"confidence.enabled={str(enabled).lower()}"])
    processor = UnitProcessor(WorkerConfig(values=values, out_dir=str(tmp_path)))
    frames = [Frame(i, f"f{i}", f.stamp_ns, f.rgb, f.intrinsics, f.sparse_depth_m, f.depth_gt_m)
              for i, f in enumerate(scene)]
    result = processor.process_frames(Unit("scene", "bag", "", 0, len(frames)), iter(frames))
    assert [r["status"] for r in result.frames] == ["ok", "ok"]
    folder = tmp_path / "scene" / "confidence_npy"
    if not enabled:
        assert not folder.exists()
        return
    for frame in frames:
        _check_map(np.load(folder / f"{frame.name}.npy"), np.load(tmp_path / "scene" / "depth_npy" /
                                                                   f"{frame.name}.npy"))

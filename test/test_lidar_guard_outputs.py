"""The LiDAR agreement guard where the CLI, the HTTP API and the batch return their outputs: predict's
``<stem>_lidar_agreement.json`` and stderr line, the API's ``lidar_agreement`` field (422 for guard drop), the
batch's per-frame records (hold-out drawn with the frame stamp, as the node draws it).

A tiny random LingBot-Depth checkpoint answers about 2 m whatever its input, so the LiDAR that agrees with it is
its own depth at the scene's LiDAR pixels (``truth``); x1000 of it is a LiDAR in millimetres read as metres; 1/1.8
of it a model whose scale is off by x1.8.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed")

from lingbot_depth_ros.batch.params import node_values
from lingbot_depth_ros.batch.sources import Frame, Unit
from lingbot_depth_ros.batch.worker import UnitProcessor, WorkerConfig
from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.pipeline.depth_pipeline import finalize_depth
from lingbot_depth_ros.pipeline.lidar_guard import DEFAULT_HOLDOUT_SHARE, holdout_mask
from lingbot_depth_ros.synthetic.generator import SceneGenerator
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Any]:
    """The checkpoint, a 320x240 scene frame written as files, and the LiDAR the tiny model agrees with."""
    root = tmp_path_factory.mktemp("guard_outputs")
    checkpoint = make_tiny_checkpoint(root / "model.pt", seed=0)
    frame = SceneGenerator(width=320, height=240, seed=3).frame(0)
    estimator = create_estimator("lingbot", checkpoint=str(checkpoint), device="cpu")
    model = estimator.estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics).depth_m
    truth = np.where((frame.sparse_depth_m > 0) & np.isfinite(model), model, 0).astype(np.float32)
    image = root / "frame.png"
    assert cv2.imwrite(str(image), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    return {"checkpoint": checkpoint, "frame": frame, "truth": truth, "image": image, "root": root,
            "samples": int(np.count_nonzero(truth))}


def lidar_file(case: dict[str, Any], factor: float, name: str) -> Path:
    path = case["root"] / f"{name}.npy"
    np.save(path, (case["truth"] * np.float32(factor)).astype(np.float32))
    return path


def predict(case: dict[str, Any], sparse: Path, out: Path, *extra: str) -> int:
    k = case["frame"].intrinsics
    return main(["predict", str(case["image"]), "--sparse-depth", str(sparse), "--intrinsics",
                 *map(str, (k.fx, k.fy, k.cx, k.cy)), "--estimator", "lingbot", "--checkpoint",
                 str(case["checkpoint"]), "--device", "cpu", "--out", str(out), "--quiet", *extra])


# --------------------------------------------------------------------------- lingbot-depth predict
def test_predict_writes_the_agreement_json_and_says_it(case, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert predict(case, lidar_file(case, 1.0, "agree"), out) == 0
    agreement = json.loads((out / "frame_lidar_agreement.json").read_text())
    held = round(DEFAULT_HOLDOUT_SHARE * case["samples"])
    assert agreement["verdict"] == "agree" and agreement["reference"] == "held_out"
    assert agreement["samples"] == held and agreement["within_5pct"] > 0.9
    assert abs(agreement["scale"] - 1) < 0.02 and agreement["applied_scale"] is None
    assert f"frame.png: LiDAR guard: agree on {held} held-out samples" in capsys.readouterr().err


def test_predict_guard_drop_refuses_a_lidar_in_millimetres_in_one_line(case, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert predict(case, lidar_file(case, 1000.0, "mm"), out, "--guard", "drop") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the depth disagrees with the LiDAR" in err[0], err
    assert "millimetres read as metres" in err[0] and "Traceback" not in err[0]
    assert not (out / "frame_depth.npy").exists()


def test_predict_guard_rescale_fixes_a_scale_off_by_1_8(case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert predict(case, lidar_file(case, 1 / 1.8, "scaled"), out, "--guard", "rescale") == 0
    agreement = json.loads((out / "frame_lidar_agreement.json").read_text())
    assert agreement["verdict"] == "disagree" and abs(agreement["applied_scale"] - 1.8) < 0.05
    assert "check CameraInfo matches the image size and the depth units" in agreement["diagnosis"]
    depth = np.load(out / "frame_depth.npy")
    has = case["truth"] > 0
    assert abs(np.nanmedian(depth[has] / (case["truth"][has] / 1.8)) - 1) < 0.02


def test_predict_guard_off_and_classical_write_no_agreement(case, tmp_path: Path) -> None:
    sparse = lidar_file(case, 1.0, "plain")
    assert predict(case, sparse, tmp_path / "off", "--guard", "off") == 0
    assert not (tmp_path / "off" / "frame_lidar_agreement.json").exists()
    assert main(["predict", str(case["image"]), "--sparse-depth", str(sparse), "--out", str(tmp_path / "classical"),
                 "--quiet"]) == 0
    assert (tmp_path / "classical" / "frame_depth.npy").exists()
    assert not (tmp_path / "classical" / "frame_lidar_agreement.json").exists()


# --------------------------------------------------------------------------- HTTP API
def _b64_npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_api_returns_the_agreement_and_refuses_guard_drop_with_422(case) -> None:
    httpx = pytest.importorskip("httpx", reason="the server extra (httpx) is not installed")
    from server_process import running_cli

    ok, png = cv2.imencode(".png", cv2.cvtColor(case["frame"].rgb, cv2.COLOR_RGB2BGR))
    assert ok
    k = case["frame"].intrinsics
    body = {"image": base64.b64encode(png.tobytes()).decode("ascii"), "mode": "completion",
            "camera_intrinsics": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy}}
    with running_cli(["serve", "--estimator", "lingbot", "--checkpoint", str(case["checkpoint"]), "--device", "cpu"],
                     "/health", timeout_s=120) as server:
        def post(factor: float, **extra: Any) -> Any:
            return httpx.post(server.url + "/predict", timeout=60,
                              json={**body, "sparse_depth": _b64_npy(case["truth"] * np.float32(factor)), **extra})

        answer = post(1.0)
        assert answer.status_code == 200, answer.text
        agreement = answer.json()["lidar_agreement"]
        assert agreement["verdict"] == "agree" and agreement["reference"] == "held_out"
        assert agreement["samples"] == round(DEFAULT_HOLDOUT_SHARE * case["samples"])

        warned = post(1000.0).json()["lidar_agreement"]  # default warn: answered, with the diagnosis
        assert warned["verdict"] == "disagree" and "millimetres read as metres" in warned["diagnosis"]
        dropped = post(1000.0, guard="drop")
        assert dropped.status_code == 422 and dropped.json()["status"] == "error"
        assert "the depth disagrees with the LiDAR" in dropped.json()["error"]
        assert post(1.0, guard="off").json()["lidar_agreement"] is None
        assert post(1.0, guard="sometimes").status_code == 422  # not one of the choices


# --------------------------------------------------------------------------- batch
def test_batch_records_the_agreement_and_drops_with_the_node_draw(case, tmp_path: Path) -> None:
    """Frame 0 agrees: its record has the figures and its depth is the model's answer without the held-out samples
    the node would draw for that stamp; frame 1 (LiDAR in mm) is dropped under guard.action drop, with the figures."""
    frame = case["frame"]
    received = np.where(case["truth"] > 0, case["truth"], np.nan).astype(np.float32)  # NaN = none, as the node
    stamps = (1_700_000_000_123_456_789, 1_700_000_000_223_456_789)
    frames = [Frame(0, "agree", stamps[0], frame.rgb, frame.intrinsics, received),
              Frame(1, "mm", stamps[1], frame.rgb, frame.intrinsics, received * np.float32(1000))]
    values = node_values(overrides={"estimator": "lingbot", "lingbot.checkpoint": str(case["checkpoint"]),
                                    "lingbot.device": "cpu", "mode": "completion", "guard.action": "drop"})
    processor = UnitProcessor(WorkerConfig(values=values, out_dir=str(tmp_path)))
    result = processor.process_frames(Unit("guard", "folder", str(tmp_path), 0, 2), iter(frames))
    agree, mm = result.frames
    assert agree["status"] == "ok" and agree["lidar_agreement"]["verdict"] == "agree"
    assert mm["status"] == "dropped" and "the depth disagrees with the LiDAR" in mm["reason"]
    assert mm["lidar_agreement"]["verdict"] == "disagree" and abs(mm["lidar_agreement"]["scale"] * 1000 - 1) < 0.05

    held = holdout_mask(received, DEFAULT_HOLDOUT_SHARE, stamps[0])
    given = np.where(held, np.float32(0), received).astype(np.float32)
    estimate = processor.estimator.estimate(frame.rgb, given, frame.intrinsics)
    expected = finalize_depth(estimate.depth_m, estimate.valid, values["depth.min_m"], values["depth.max_m"])
    np.testing.assert_array_equal(np.load(tmp_path / "guard" / "depth_npy" / "agree.npy"), expected)

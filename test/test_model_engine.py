"""ONNX engines of LingBot-Depth (issue 15 §2-§3): export, ONNX Runtime (CPU) parity with the torch path,
monocular/completion switching, fixed size/level errors, providers, batched estimates, transfer bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lingbot_depth_ros.cli.export import main as export_main
from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.estimators.base import EstimatorInput
from lingbot_depth_ros.estimators.lingbot import LingbotEstimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.model import load_model
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

pytest.importorskip("onnxruntime", reason="engine extra (requirements-engine.txt) not installed")
H, W, LEVEL = 96, 128, 5
DEPTH_REL_TOL = 1e-4
MASK_BAND = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engine")
    checkpoint = make_tiny_checkpoint(root / "model.pt", seed=0)
    assert export_main([str(checkpoint), str(root / "engine"), "--onnx", "--level", str(LEVEL),
                        "--size", f"{W}x{H}"]) == 0
    return {"checkpoint": checkpoint, "engine": root / "engine"}


@pytest.fixture(scope="module")
def models(exported):
    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel
    return (load_model(exported["checkpoint"], device="cpu", precision="fp32"),
            OnnxDepthModel(exported["engine"], providers="CPUExecutionProvider"))


def _rgb(b: int, seed: int = 0, shape=(H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (b, *shape, 3), dtype=np.uint8)


def _sparse(kind: str, seed: int, shape=(H, W)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    depth = np.zeros(shape, np.float32)
    if kind == "points500":
        idx = rng.choice(depth.size, 500, replace=False)
        depth.flat[idx] = rng.uniform(0.5, 8.0, 500)
    elif kind in ("dense5", "full"):
        hit = rng.random(shape) < (0.05 if kind == "dense5" else 1.01)
        depth[hit] = rng.uniform(0.5, 8.0, int(hit.sum()))
    return depth


def assert_parity(ref: dict, got: dict) -> None:
    """depth within 1e-4 relative; mask identical except where |p - 0.5| < 1e-4."""
    rel = np.abs(got["depth_m"].astype(np.float64) - ref["depth_m"]) / np.abs(ref["depth_m"])
    assert rel.max() <= DEPTH_REL_TOL, rel.max()
    differ = got["valid"] != ref["valid"]
    assert not differ[np.abs(ref["mask_prob"] - 0.5) >= MASK_BAND].any()


def test_export_writes_two_engines_and_the_metadata(exported) -> None:
    folder = exported["engine"]
    meta = json.loads((folder / "engine.json").read_text())
    assert (folder / "model.onnx").stat().st_size > 100_000 and (folder / "model_monocular.onnx").is_file()
    rows, cols = meta["grid_rows_cols"]
    n = rows * cols
    assert meta["image_size_wh"] == [W, H] and meta["resolution_level"] == LEVEL and meta["precision"] == "fp32"
    assert meta["engines"]["completion"]["sequence_length"] == 1 + 2 * n
    assert meta["engines"]["monocular"]["sequence_length"] == 1 + n
    assert meta["engines"]["completion"]["inputs"]["depth_keep"] == ["B", n]
    assert meta["input_hw"] == [rows * 14, cols * 14]
    assert meta["preprocessing"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert meta["checkpoint"]["sha256"] == hashlib.sha256(exported["checkpoint"].read_bytes()).hexdigest()


@pytest.mark.parametrize("kinds", [["dense5"], ["points500", "full", "dense5", "none"], ["none"], ["none", "none"]])
def test_onnxruntime_cpu_matches_torch(models, kinds) -> None:
    torch_model, onnx_model = models
    rgb = _rgb(len(kinds), seed=len(kinds))
    sparse = np.stack([_sparse(k, i) for i, k in enumerate(kinds)])
    ref = torch_model.infer(rgb, sparse, resolution_level=LEVEL)
    inputs, _ = onnx_model.prepare(rgb, sparse)
    assert onnx_model.engine_for(inputs) == ("monocular" if set(kinds) == {"none"} else "completion")
    got = onnx_model.infer(rgb, sparse)
    assert got["depth_m"].shape == (len(kinds), H, W)
    assert_parity(ref, got)


def test_auto_mode_switches_engines_without_reloading(models) -> None:
    torch_model, onnx_model = models
    sessions = dict(onnx_model.sessions)
    rgb = _rgb(1, seed=7)[0]
    for sparse in (_sparse("dense5", 3), None, _sparse("points500", 4), None):
        assert_parity(torch_model.infer(rgb, sparse, resolution_level=LEVEL), onnx_model.infer(rgb, sparse))
    assert all(onnx_model.sessions[k] is v for k, v in sessions.items())


def test_fixed_size_level_and_providers_are_explained(exported, models) -> None:
    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel, choose_providers
    _, onnx_model = models
    with pytest.raises(InputError, match=r"exported for 128x96 images, this one is 64x48.*--size 64x48"):
        onnx_model.infer(_rgb(1, shape=(48, 64))[0])
    with pytest.raises(ConfigError, match="exported at resolution_level 5"):
        onnx_model.infer(_rgb(1)[0], resolution_level=9)
    with pytest.raises(ConfigError, match="none of the ONNX Runtime providers TensorrtExecutionProvider is installed"):
        OnnxDepthModel(exported["engine"], providers="TensorrtExecutionProvider")
    assert choose_providers(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
                            ["CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
    default = OnnxDepthModel(exported["engine"])  # default list: TensorRT, CUDA, CPU -> what is installed
    text = default.describe()
    assert "on CPUExecutionProvider" in text and "not installed: TensorrtExecutionProvider" in text


def test_export_cli_errors_are_one_line(exported, capsys, tmp_path) -> None:
    for args, message in ((["--size", "12"], "--size must look like 640x480"),
                          (["--level", "11"], "--level must be an integer in 0..9")):
        assert export_main([str(exported["checkpoint"]), str(tmp_path / "x"), "--onnx", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert export_main([str(tmp_path / "missing.pt"), str(tmp_path / "x"), "--onnx"]) == 2


def test_estimator_backends_agree_and_the_level_is_fixed(exported) -> None:
    torch_est = LingbotEstimator(str(exported["checkpoint"]), device="cpu", precision="fp32", resolution_level=LEVEL)
    onnx_est = LingbotEstimator(backend="onnxruntime", engine_dir=str(exported["engine"]), device="cpu",
                                providers="CPUExecutionProvider", resolution_level=LEVEL)
    assert "onnxruntime engine" in onnx_est.describe() and "CPUExecutionProvider" in onnx_est.describe()
    assert onnx_est.available_levels == (LEVEL,) and torch_est.available_levels == tuple(range(10))
    assert onnx_est.resolution_level is None and torch_est.resolution_level == LEVEL  # None: no level changes
    rgb = _rgb(1, seed=9)[0]
    for sparse in (_sparse("dense5", 9), None):
        a, b = torch_est.estimate(rgb, sparse, None), onnx_est.estimate(rgb, sparse, None)
        both = a.valid & b.valid
        assert both.mean() > 0.9
        assert np.max(np.abs(a.depth_m[both] - b.depth_m[both]) / a.depth_m[both]) <= DEPTH_REL_TOL
    with pytest.raises(ConfigError, match="exported at resolution_level 5"):
        onnx_est.resolution_level = 9
    with pytest.raises(ConfigError, match="exported at resolution_level 5"):
        LingbotEstimator(backend="onnxruntime", engine_dir=str(exported["engine"]), resolution_level=9)
    with pytest.raises(Exception, match="engine.json missing"):
        LingbotEstimator(backend="onnxruntime", engine_dir=str(exported["checkpoint"].parent))


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_estimate_batch_equals_per_frame_estimates(exported, backend) -> None:
    est = LingbotEstimator(str(exported["checkpoint"]), device="cpu", precision="fp32", resolution_level=LEVEL,
                           backend=backend, engine_dir=str(exported["engine"]), providers="CPUExecutionProvider")
    intr = CameraIntrinsics(fx=100.0, fy=100.0, cx=63.5, cy=47.5, width=W, height=H)
    frames = [EstimatorInput(_rgb(1, seed=1)[0], _sparse("dense5", 1), intr), (_rgb(1, seed=2)[0], None, None),
              (_rgb(1, seed=3)[0], _sparse("points500", 3), None), (_rgb(1, seed=4)[0], None, intr)]
    if backend == "torch":  # a second image size: its own group
        frames.append((_rgb(1, seed=5, shape=(60, 80))[0], _sparse("dense5", 5, shape=(60, 80)), None))
    batched = est.estimate_batch(frames)
    assert len(batched) == len(frames)
    for frame, got in zip(frames, batched):
        single = est.estimate(*frame)
        assert got.depth_m.shape == frame[0].shape[:2]
        assert np.array_equal(got.valid, single.valid)
        assert np.allclose(got.depth_m[got.valid], single.depth_m[single.valid], rtol=1e-5, atol=0)
    with pytest.raises(InputError):
        est.estimate_batch([(_rgb(1)[0], _sparse("dense5", 1, shape=(60, 80)), None)])


def test_estimator_downloads_only_the_published_depth(exported) -> None:
    """Upload: uint8 image + float32 sparse; download: depth float32 with NaN where invalid (4 B/px),
    the same values as the full numpy result of the model."""
    est = LingbotEstimator(str(exported["checkpoint"]), device="cpu", precision="fp32", resolution_level=LEVEL)
    rgb, sparse = _rgb(1, seed=11)[0], _sparse("dense5", 11)
    ref = est.model.infer(rgb, sparse, resolution_level=LEVEL)  # depth, valid, mask_prob as numpy
    est.model.transfers.reset()
    got = est.estimate(rgb, sparse, None)
    assert np.array_equal(got.valid, ref["valid"])
    assert np.array_equal(got.depth_m[got.valid], ref["depth_m"][ref["valid"]])
    assert np.isnan(got.depth_m[~got.valid]).all()
    t = est.model.transfers
    assert (t.frames, t.host_to_device_bytes, t.device_to_host_bytes) == (1, H * W * 3 + H * W * 4, H * W * 4)
    est.estimate(rgb, None, None)  # monocular: no sparse upload
    assert t.host_to_device_bytes == 2 * H * W * 3 + H * W * 4 and t.per_frame_mb()[1] == pytest.approx(H * W * 4 / 1e6)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_onnxruntime_cpu_matches_torch_reference_config(tmp_path) -> None:
    """Full ViT-L reference config (random weights, 1.3 GB), 640x480, level 0: completion (batch of two masks)
    and monocular. Minutes on a CPU."""
    import torch

    from lingbot_depth_ros.model import reference_model_config
    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel
    from lingbot_depth_ros.model.factory import build_model
    torch.manual_seed(0)
    network, _ = build_model(reference_model_config(), device="cpu")
    checkpoint = tmp_path / "model.pt"
    torch.save({"model_config": reference_model_config(), "model": network.state_dict()}, checkpoint)
    del network
    assert export_main([str(checkpoint), str(tmp_path / "engine"), "--onnx", "--level", "0"]) == 0
    torch_model = load_model(checkpoint, device="cpu", precision="fp32")
    onnx_model = OnnxDepthModel(tmp_path / "engine", providers="CPUExecutionProvider")
    rgb = _rgb(2, seed=1, shape=(480, 640))
    sparse = np.stack([_sparse("points500", 1, shape=(480, 640)), _sparse("dense5", 2, shape=(480, 640))])
    for sp in (sparse, None):
        ref = torch_model.infer(rgb, sp, resolution_level=0)
        got = onnx_model.infer(rgb, sp)
        rel = np.abs(got["depth_m"].astype(np.float64) - ref["depth_m"]) / np.abs(ref["depth_m"])
        print(f"reference config, level 0, {'completion' if sp is not None else 'monocular'}: max relative depth "
              f"diff {rel.max():.2e}, mask prob diff {np.abs(got['mask_prob'] - ref['mask_prob']).max():.2e}")
        assert_parity(ref, got)


@pytest.mark.slow
def test_fp16_engine_runs_close_to_fp32(exported, models, tmp_path) -> None:
    """--fp16 (torch's dynamo exporter): fp16 weights and compute, float32 inputs/outputs."""
    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel
    assert export_main([str(exported["checkpoint"]), str(tmp_path / "fp16"), "--onnx", "--level", str(LEVEL),
                        "--size", f"{W}x{H}", "--fp16"]) == 0
    fp16 = OnnxDepthModel(tmp_path / "fp16", providers="CPUExecutionProvider")
    assert fp16.effective_precision == "fp16"
    torch_model, _ = models
    rgb, sparse = _rgb(2, seed=5), np.stack([_sparse("dense5", 5), _sparse("none", 6)])
    ref, got = torch_model.infer(rgb, sparse, resolution_level=LEVEL), fp16.infer(rgb, sparse)
    assert got["depth_m"].dtype == np.float32
    assert np.max(np.abs(got["depth_m"] - ref["depth_m"]) / ref["depth_m"]) < 5e-3

"""depth_pro and marigold on tiny random checkpoints saved in the Hugging Face layout: units, output kind,
the focal-length paths (estimator, CLI, HTTP API over real HTTP) and Marigold's seeded ensembling."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("transformers", reason="the estimators extra is not installed")
pytest.importorskip("diffusers", reason="the estimators extra is not installed")

from hf_scenes import gradient_rgb

from lingbot_depth_ros.cli.main import main as cli_main
from lingbot_depth_ros.errors import CheckpointError, ConfigError, InputError
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.testing.depth_pro_marigold_checkpoints import (
    TINY_FOV_DEG,
    build_tiny_depth_pro,
    build_tiny_marigold,
)

W, H = 64, 48
# the tiny Depth Pro's field-of-view head always answers TINY_FOV_DEG: its focal estimate for a W-wide image
FOCAL_ESTIMATE = 0.5 * W / math.tan(math.radians(TINY_FOV_DEG) / 2)
K = CameraIntrinsics(fx=64.0, fy=64.0, cx=31.5, cy=23.5, width=W, height=H)
MARIGOLD_FAST = {"denoising_steps": 1, "processing_resolution": 32}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {"depth_pro": build_tiny_depth_pro(root / "depth_pro"),
            "depth_pro_no_fov": build_tiny_depth_pro(root / "depth_pro_no_fov", fov_head=False),
            "marigold": build_tiny_marigold(root / "marigold")}


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return gradient_rgb(W, H)


@pytest.fixture(scope="module")
def depth_pro(checkpoints):
    return create_estimator("depth_pro", checkpoint=str(checkpoints["depth_pro"]), device="cpu")


def test_depth_pro_is_metric_and_scales_with_the_focal_length_used(checkpoints, depth_pro, rgb) -> None:
    assert depth_pro.output_kind == "metric" and depth_pro.estimates_focal
    camera = depth_pro.estimate(rgb, None, K)  # default: CameraInfo's fx sets the scale
    assert camera.depth_m.shape == (H, W) and camera.depth_m.dtype == np.float32 and camera.valid.all()
    assert not camera.focal_from_estimate
    assert camera.estimated_focal_px == pytest.approx(FOCAL_ESTIMATE, rel=1e-5)
    # depth [m] = fx / (W * canonical inverse depth): doubling fx doubles every depth
    long_lens = CameraIntrinsics(fx=128.0, fy=128.0, cx=31.5, cy=23.5, width=W, height=H)
    np.testing.assert_allclose(depth_pro.estimate(rgb, None, long_lens).depth_m, 2 * camera.depth_m, rtol=1e-5)
    own = create_estimator("depth_pro", checkpoint=str(checkpoints["depth_pro"]), device="cpu",
                           use_fov_estimate=True).estimate(rgb, None, K)
    assert own.focal_from_estimate
    np.testing.assert_allclose(own.depth_m / camera.depth_m, FOCAL_ESTIMATE / K.fx, rtol=1e-5)
    # no intrinsics at all: the estimate is the only focal length there is
    np.testing.assert_allclose(depth_pro.estimate(rgb, None, None).depth_m, own.depth_m, rtol=1e-6)
    # the tiny head's canonical inverse depth is about 0.5..2: depths of about 0.5..2 m with fx = W
    assert 0.2 < float(np.median(camera.depth_m)) < 5.0


def test_depth_pro_without_a_field_of_view_head(checkpoints, rgb) -> None:
    folder = str(checkpoints["depth_pro_no_fov"])
    with pytest.raises(ConfigError, match="no field-of-view head"):
        create_estimator("depth_pro", checkpoint=folder, device="cpu", use_fov_estimate=True)
    plain = create_estimator("depth_pro", checkpoint=folder, device="cpu")
    estimate = plain.estimate(rgb, None, K)
    assert estimate.estimated_focal_px is None and not estimate.focal_from_estimate
    with pytest.raises(InputError, match="needs camera intrinsics"):
        plain.estimate(rgb, None, None)


def test_repo_ids_resolve_through_the_local_hf_cache_offline(checkpoints, rgb, tmp_path, monkeypatch) -> None:
    from lingbot_depth_ros.testing.hf_checkpoints import add_to_hf_cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hub"
    add_to_hf_cache(checkpoints["depth_pro"], cache, "apple/DepthPro-hf")
    add_to_hf_cache(checkpoints["marigold"], cache, "prs-eth/marigold-depth-v1-1")  # pipeline: sub-folders
    depth_pro = create_estimator("depth_pro", device="cpu", cache_dir=cache)  # the default repo id
    assert "hf://apple/DepthPro-hf" in depth_pro.describe()
    assert depth_pro.estimate(rgb, None, K).depth_m.shape == (H, W)
    marigold = create_estimator("marigold", device="cpu", cache_dir=cache, **MARIGOLD_FAST)
    assert "hf://prs-eth/marigold-depth-v1-1" in marigold.describe()
    assert marigold.estimate(rgb, None, None).depth_m.shape == (H, W)
    with pytest.raises(CheckpointError, match="hf download prs-eth/marigold-depth-v1-0"):
        create_estimator("marigold", checkpoint="prs-eth/marigold-depth-v1-0", device="cpu", cache_dir=cache)


def test_checkpoint_folders_of_the_wrong_kind_are_refused(checkpoints, tmp_path) -> None:
    with pytest.raises(CheckpointError, match="model_index.json"):
        create_estimator("marigold", checkpoint=str(checkpoints["depth_pro"]), device="cpu")
    with pytest.raises(CheckpointError, match="config.json"):
        create_estimator("depth_pro", checkpoint=str(checkpoints["marigold"]), device="cpu")
    with pytest.raises(ConfigError, match="ensemble_size"):
        create_estimator("marigold", checkpoint=str(checkpoints["marigold"]), device="cpu", ensemble_size=0)


def test_marigold_is_relative_and_seeded_ensembling_is_deterministic(checkpoints, rgb) -> None:
    folder = str(checkpoints["marigold"])
    marigold = create_estimator("marigold", checkpoint=folder, device="cpu", ensemble_size=2, seed=7,
                                **MARIGOLD_FAST)
    assert marigold.output_kind == "relative_depth" and not marigold.estimates_focal
    first = marigold.estimate(rgb, None, None)
    assert first.depth_m.shape == (H, W) and first.depth_m.dtype == np.float32 and first.valid.all()
    assert 0.0 <= first.depth_m.min() < first.depth_m.max() <= 1.0  # affine-invariant depth in [0, 1]
    np.testing.assert_array_equal(marigold.estimate(rgb, None, None).depth_m, first.depth_m)  # same seed
    again = create_estimator("marigold", checkpoint=folder, device="cpu", ensemble_size=2, seed=7, **MARIGOLD_FAST)
    np.testing.assert_array_equal(again.estimate(rgb, None, None).depth_m, first.depth_m)  # another instance
    other = create_estimator("marigold", checkpoint=folder, device="cpu", ensemble_size=2, seed=8, **MARIGOLD_FAST)
    assert np.abs(other.estimate(rgb, None, None).depth_m - first.depth_m).max() > 1e-3  # other noise


# -- CLI --------------------------------------------------------------------------------------------


def test_cli_predict_states_the_focal_length_used(checkpoints, rgb, tmp_path, capsys) -> None:
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    common = ["predict", str(image), "--estimator", "depth_pro", "--checkpoint", str(checkpoints["depth_pro"]),
              "--device", "cpu", "--quiet"]
    assert cli_main(common + ["--out", str(tmp_path / "est")]) == 0
    assert f"focal {FOCAL_ESTIMATE:.1f} px (estimated)" in capsys.readouterr().err
    assert cli_main(common + ["--out", str(tmp_path / "cam"), "--intrinsics", "64", "64", "31.5", "23.5"]) == 0
    err = capsys.readouterr().err
    assert f"focal 64.0 px (camera info), estimated {FOCAL_ESTIMATE:.1f} px (ratio 0.866)" in err
    estimated = np.load(tmp_path / "est" / "frame_depth.npy")
    calibrated = np.load(tmp_path / "cam" / "frame_depth.npy")
    np.testing.assert_allclose(estimated / calibrated, FOCAL_ESTIMATE / 64.0, rtol=1e-4)
    # a Marigold knob given to depth_pro: one line, exit 2, before any model is loaded
    assert cli_main(common + ["--out", str(tmp_path / "x"), "--ensemble-size", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lingbot-depth predict: error: --ensemble-size applies to estimator marigold, not 'depth_pro'"]


# -- HTTP API over real HTTP --------------------------------------------------------------------------


def test_api_camera_intrinsics_optional_with_depth_pro(checkpoints, rgb) -> None:
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    import httpx
    from server_process import running_cli

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    image = base64.b64encode(encoded.tobytes()).decode()
    with running_cli(["serve", "--estimator", "depth_pro", "--checkpoint", str(checkpoints["depth_pro"]),
                      "--device", "cpu"], "/health", timeout_s=120) as server:
        health = httpx.get(server.url + "/health").json()
        assert health["estimator"] == "depth_pro" and health["estimates_focal"] is True
        answer = httpx.post(server.url + "/predict", json={"image": image}, timeout=60).json()
        assert answer["status"] == "success", answer
        assert answer["focal_source"] == "estimated"
        assert answer["focal_px"] == pytest.approx(FOCAL_ESTIMATE, rel=1e-5)
        assert answer["intrinsics"]["fx"] == pytest.approx(FOCAL_ESTIMATE, rel=1e-5)
        depth = np.load(io.BytesIO(base64.b64decode(answer["depth_npy"])))
        points = np.load(io.BytesIO(base64.b64decode(answer["point_cloud"])))
        # the cloud is back-projected with the estimated focal length: x = (u - cx) z / f
        v, u = np.nonzero(np.isfinite(depth))
        z = depth[v, u]
        np.testing.assert_allclose(points[:, 2], z, rtol=1e-6)
        np.testing.assert_allclose(points[:, 0], (u - (W - 1) / 2) * z / FOCAL_ESTIMATE, rtol=1e-4, atol=1e-6)

        body = {"image": image, "camera_intrinsics": {"fx": 64.0, "fy": 64.0, "cx": 31.5, "cy": 23.5}}
        calibrated = httpx.post(server.url + "/predict", json=body, timeout=60).json()
        assert calibrated["focal_source"] == "camera_info" and calibrated["focal_px"] == 64.0
        assert calibrated["estimated_focal_px"] == pytest.approx(FOCAL_ESTIMATE, rel=1e-5)
        depth_cam = np.load(io.BytesIO(base64.b64decode(calibrated["depth_npy"])))
        np.testing.assert_allclose(depth / depth_cam, FOCAL_ESTIMATE / 64.0, rtol=1e-4)
    assert server.process.returncode == 0, server.log()


def _marigold_truth(folder: Path, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(truth [m], sparse [m]): a metric scene affine to the tiny Marigold's output, sampled every 4 px."""
    relative = create_estimator("marigold", checkpoint=str(folder), device="cpu", seed=0).estimate(
        rgb, None, None).depth_m
    truth = 3.0 * relative + 1.5
    sparse = np.zeros_like(truth)
    sparse[::4, ::4] = truth[::4, ::4]
    return truth, sparse


def test_cli_marigold_writes_metres_only_aligned_to_the_sparse_depth(checkpoints, rgb, tmp_path, capsys) -> None:
    truth, sparse = _marigold_truth(checkpoints["marigold"], rgb)
    image, sparse_path = tmp_path / "frame.png", tmp_path / "frame.npy"
    cv2.imwrite(str(image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.save(sparse_path, sparse)
    common = ["predict", str(image), "--estimator", "marigold", "--checkpoint", str(checkpoints["marigold"]),
              "--device", "cpu", "--seed", "0", "--quiet"]
    assert cli_main(common + ["--out", str(tmp_path / "no_lidar")]) == 2  # relative: no metres without a fit
    assert "relative depth" in capsys.readouterr().err
    assert cli_main(common + ["--sparse-depth", str(sparse_path), "--out", str(tmp_path / "out")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "out" / "frame_depth.npy"), truth, atol=0.01)


@pytest.mark.slow  # a second server process (torch + diffusers import): the CLI test above covers the same path
def test_api_marigold_aligns_to_the_sparse_depth(checkpoints, rgb) -> None:
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    import httpx
    from server_process import running_cli

    truth, sparse = _marigold_truth(checkpoints["marigold"], rgb)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    buffer = io.BytesIO()
    np.save(buffer, sparse)
    body = {"image": base64.b64encode(encoded.tobytes()).decode(),
            "sparse_depth": base64.b64encode(buffer.getvalue()).decode(), "mode": "monocular"}
    with running_cli(["serve", "--estimator", "marigold", "--checkpoint", str(checkpoints["marigold"]),
                      "--device", "cpu", "--seed", "0"], "/health", timeout_s=120) as server:
        answer = httpx.post(server.url + "/predict", json=body, timeout=60).json()
        assert answer["status"] == "success", answer
        depth = np.load(io.BytesIO(base64.b64decode(answer["depth_npy"])))
        np.testing.assert_allclose(depth, truth, atol=0.01)
        refused = httpx.post(server.url + "/predict", json={"image": body["image"]}, timeout=60)
        assert refused.status_code == 400 and "relative depth" in refused.json()["error"]
    assert server.process.returncode == 0, server.log()

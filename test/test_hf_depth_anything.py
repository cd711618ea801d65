"""depth_anything (V1/V2, relative and metric) and prompt_depth_anything on tiny random checkpoints saved in the
Hugging Face layout: loading (folder, repo id through a local HF cache, wrong folders), output shape / units /
kind, the LiDAR prompt, the inverse-depth alignment of relative outputs (never published unaligned), and the
CLI, HTTP API and evaluation-alignment paths."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("transformers", reason="the estimators extra is not installed")

from hf_scenes import gradient_rgb

from lingbot_depth_ros.cli.main import main as cli_main
from lingbot_depth_ros.errors import CheckpointError, ConfigError, InputError
from lingbot_depth_ros.estimators import check_output_alignment, create_estimator
from lingbot_depth_ros.estimators.hf_common import resolve_precision
from lingbot_depth_ros.estimators.prompt_depth_anything import prompt_from_sparse
from lingbot_depth_ros.evaluation.replay import align_to_ground_truth
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.scale_alignment import robust_scale_shift
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.pipeline.modes import check_mode
from lingbot_depth_ros.testing.hf_checkpoints import (
    add_to_hf_cache,
    save_tiny_depth_anything,
    save_tiny_prompt_depth_anything,
)

W, H = 64, 48  # not multiples of 14: the processor resizes, the output comes back at the image size
K = CameraIntrinsics(fx=60.0, fy=60.0, cx=31.5, cy=23.5, width=W, height=H)
SCALE, SHIFT = 0.1, 0.2  # the synthetic scene: 1 / depth_m = SCALE * disparity + SHIFT


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {"relative": save_tiny_depth_anything(root / "da_relative"),
            "metric": save_tiny_depth_anything(root / "da_metric", metric=True, max_depth=20),
            "prompt": save_tiny_prompt_depth_anything(root / "prompt_da")}


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return gradient_rgb(W, H)


@pytest.fixture(scope="module")
def relative(checkpoints):
    return create_estimator("depth_anything", checkpoint=str(checkpoints["relative"]), device="cpu")


def sparse_grid(depth_m: np.ndarray, step: int = 3) -> np.ndarray:
    sparse = np.zeros(depth_m.shape, np.float32)
    sparse[::step, ::step] = depth_m[::step, ::step]
    return sparse


# -- loading ------------------------------------------------------------------------------------------


def test_output_kind_comes_from_the_checkpoint(checkpoints, relative, rgb) -> None:
    assert relative.output_kind == "relative_disparity"
    out = relative.estimate(rgb, None, K)
    assert out.depth_m.shape == (H, W) and out.depth_m.dtype == np.float32 and out.valid.all()
    assert np.ptp(out.depth_m) > 0.1  # an image-dependent map, not a constant

    metric = create_estimator("depth_anything", checkpoint=str(checkpoints["metric"]), device="cpu",
                              input_size=28, precision="fp16")
    assert metric.output_kind == "metric" and metric.precision == "fp32"  # fp16 only on CUDA
    assert "max_depth 20 m" in metric.describe() and "input_size=28" in metric.describe()
    depth = metric.estimate(rgb, None, K)
    assert depth.depth_m.shape == (H, W)
    assert 0.0 < float(depth.depth_m[depth.valid].min()) and float(depth.depth_m.max()) <= 20.0  # sigmoid * 20 m
    with pytest.raises(InputError, match="does not take sparse depth"):
        metric.estimate(rgb, np.ones((H, W), np.float32), K)


def test_repo_id_resolves_through_the_local_cache_offline(checkpoints, rgb, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = tmp_path / "hub"
    add_to_hf_cache(checkpoints["relative"], hub, "acme/tiny-depth-anything")
    cached = create_estimator("depth_anything", checkpoint="acme/tiny-depth-anything", device="cpu", cache_dir=hub)
    assert cached.source == "hf://acme/tiny-depth-anything"
    folder = create_estimator("depth_anything", checkpoint=str(checkpoints["relative"]), device="cpu")
    np.testing.assert_array_equal(cached.estimate(rgb, None, K).depth_m, folder.estimate(rgb, None, K).depth_m)
    with pytest.raises(CheckpointError, match="hf download acme/not-cached"):
        create_estimator("depth_anything", checkpoint="acme/not-cached", device="cpu", cache_dir=hub)


def test_bad_checkpoints_and_options_are_one_clear_error(checkpoints, tmp_path) -> None:
    with pytest.raises(CheckpointError, match="folder not found"):
        create_estimator("depth_anything", checkpoint=str(tmp_path / "missing"), device="cpu")
    with pytest.raises(CheckpointError, match="is a file"):
        create_estimator("depth_anything", checkpoint=str(checkpoints["relative"] / "config.json"), device="cpu")
    with pytest.raises(CheckpointError, match="holds a 'prompt_depth_anything' model"):
        create_estimator("depth_anything", checkpoint=str(checkpoints["prompt"]), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no config.json"):
        create_estimator("prompt_depth_anything", checkpoint=str(tmp_path / "empty"), device="cpu")
    with pytest.raises(ConfigError, match="input_size"):
        create_estimator("depth_anything", checkpoint=str(checkpoints["relative"]), input_size=5)
    with pytest.raises(ConfigError, match="precision"):
        resolve_precision("fp8", __import__("torch").device("cpu"))


# -- Prompt Depth Anything ----------------------------------------------------------------------------


def test_prompt_is_the_mean_of_the_samples_per_cell_nearest_filled() -> None:
    sparse = np.zeros((400, 600), np.float32)
    sparse[:200, ::10] = 2.0  # top half: samples at 2 m
    sparse[300:, ::10] = 6.0  # bottom quarter: 6 m; rows 200..299 have none
    prompt = prompt_from_sparse(sparse, max_side=60)
    assert prompt.shape == (40, 60) and prompt.dtype == np.float32
    np.testing.assert_allclose(prompt[:19], 2.0, rtol=1e-5)
    np.testing.assert_allclose(prompt[31:], 6.0, rtol=1e-5)
    assert set(np.unique(prompt[20:30]).round(4)) <= {2.0, 6.0}  # the gap takes the nearest cell, no new depth
    with pytest.raises(InputError, match="no valid measurement"):
        prompt_from_sparse(np.zeros((10, 10), np.float32))


def test_prompt_cells_are_the_area_mean_of_off_grid_samples() -> None:
    """Samples off the cell grid (a nearest-pixel resample would read the cells' corner pixels, which hold
    none): each cell is the mean of the samples inside it, with area weights where pixels straddle cells."""
    sparse = np.zeros((40, 60), np.float32)  # max_side 6: 10 x 10 px cells, 4 x 6 of them
    sparse[3, 4], sparse[7, 8] = 1.0, 3.0                         # cell (0, 0): (1 + 3) / 2
    sparse[2, 12], sparse[5, 15], sparse[8, 19] = 4.0, 5.0, 9.0    # cell (0, 1): (4 + 5 + 9) / 3
    sparse[13, 3] = 2.5                                           # cell (1, 0): the one sample
    sparse[30, 50], sparse[35, 55], sparse[31, 51] = 6.0, 7.0, 8.0  # cell (3, 5): (6 + 7 + 8) / 3, one on
    #                                                               its corner pixel (what nearest would read)
    prompt = prompt_from_sparse(sparse, max_side=6)
    assert prompt.shape == (4, 6)
    expected = {(0, 0): 2.0, (0, 1): 6.0, (1, 0): 2.5, (3, 5): 7.0,  # cells with samples: their mean
                (0, 2): 6.0, (2, 0): 2.5, (3, 4): 7.0}               # empty cells: the nearest such cell
    for cell, depth in expected.items():
        assert prompt[cell] == pytest.approx(depth, rel=1e-5), (cell, prompt)
    # 3 px -> 2 cells (1.5 px each): cell 0 = px 0 + half of px 1, cell 1 = the other half of px 1 + px 2 (none)
    straddling = np.zeros((3, 3), np.float32)
    straddling[:, 0], straddling[:, 1] = 2.0, 5.0
    np.testing.assert_allclose(prompt_from_sparse(straddling, max_side=2),
                               [[(2.0 + 0.5 * 5.0) / 1.5, 5.0]] * 2, rtol=1e-5)  # [[3, 5], [3, 5]]


def test_prompt_depth_anything_is_metric_completion_and_uses_the_prompt(checkpoints, rgb) -> None:
    model = create_estimator("prompt_depth_anything", checkpoint=str(checkpoints["prompt"]), device="cpu",
                             prompt_max_side=32)
    assert model.output_kind == "metric" and model.supported_modes == {"completion"}
    ramp = np.linspace(1.0, 5.0, H, dtype=np.float32)[:, None] * np.ones((1, W), np.float32)
    first = model.estimate(rgb, sparse_grid(ramp), K)
    assert first.depth_m.shape == (H, W) and first.valid.all()
    assert 0.5 < float(first.depth_m.min()) and float(first.depth_m.max()) < 6.0  # metres, in the prompt's range
    flipped = model.estimate(rgb, sparse_grid(ramp[::-1].copy()), K)  # same depths, other places
    assert np.abs(flipped.depth_m - first.depth_m).mean() > 0.05
    with pytest.raises(InputError, match="needs sparse depth"):
        model.estimate(rgb, None, K)


# -- relative outputs: aligned in inverse depth, never published unaligned ---------------------------------


def test_robust_inverse_depth_fit_recovers_a_known_affine_with_outliers() -> None:
    rng = np.random.default_rng(3)
    disparity = rng.uniform(0.5, 8.0, (60, 80)).astype(np.float32)
    truth = 1.0 / (SCALE * disparity + SHIFT)
    sparse = sparse_grid(truth, 2)
    hit = np.flatnonzero(sparse)
    wild = rng.choice(hit, size=hit.size // 4, replace=False)  # 25 % gross outliers
    sparse.flat[wild] *= rng.uniform(1.5, 3.0, wild.size).astype(np.float32)
    for method in ("ransac", "irls"):
        fit = robust_scale_shift(disparity, sparse, space="inverse_depth", method=method)
        assert fit.space == "inverse_depth"
        assert fit.scale == pytest.approx(SCALE, rel=1e-3) and fit.shift == pytest.approx(SHIFT, abs=1e-3)
        np.testing.assert_allclose(fit.apply(disparity), truth, rtol=1e-3)
    # where the fitted inverse depth is <= 0 there is no depth: NaN, never a negative or infinite metre value
    negative = robust_scale_shift(disparity, sparse, space="inverse_depth").apply(np.float32([[-10.0, 1.0]]))
    assert np.isnan(negative[0, 0]) and np.isfinite(negative[0, 1])


def test_pipeline_publishes_relative_depth_only_aligned(relative, rgb) -> None:
    disparity = relative.estimate(rgb, None, K).depth_m
    truth = (1.0 / (SCALE * disparity + SHIFT)).astype(np.float32)  # the metric scene behind the disparity
    sparse = sparse_grid(truth)
    sparse[0, 0:12:3] = 50.0  # wild returns
    settings = OutputSettings(align="scale_shift", depth_max_m=1000.0, cloud=False, colorized=False)
    result = DepthPipeline(relative, settings).process(rgb, None, K, align_depth_m=sparse)
    assert result.alignment is not None and result.alignment.space == "inverse_depth"
    np.testing.assert_allclose(result.depth_m, truth, rtol=1e-3)
    with pytest.raises(InputError, match="relative disparity .*align_to_sparse is off"):
        DepthPipeline(relative, OutputSettings(align="off")).process(rgb, None, K, align_depth_m=sparse)
    with pytest.raises(InputError, match="too few points"):  # a frame whose fit fails is dropped, not published
        DepthPipeline(relative, settings).process(rgb, None, K, align_depth_m=np.zeros((H, W), np.float32))
    with pytest.raises(ConfigError, match="needs align_to_sparse:=scale_shift"):
        check_output_alignment(relative, "off")
    check_output_alignment(relative, "scale_shift")
    # the node's default mode (auto = completion while LiDAR arrives) is not for a monocular model: say what is
    with pytest.raises(ConfigError, match="mode:=monocular and align_to_sparse:=scale_shift"):
        check_mode(relative, "auto")


def test_evaluation_alignment_to_ground_truth() -> None:
    rng = np.random.default_rng(4)
    truth = rng.uniform(1.0, 8.0, (30, 40)).astype(np.float32)
    disparity = (2.0 / truth + 0.3).astype(np.float32)
    pred = 1.0 / disparity  # an output whose inverse is affine in the true inverse depth
    np.testing.assert_allclose(align_to_ground_truth(pred, truth, "lstsq_inverse"), truth, rtol=1e-4)
    np.testing.assert_allclose(align_to_ground_truth(truth * 3.0, truth, "median"), truth, rtol=1e-5)
    assert align_to_ground_truth(pred, truth, "sparse") is pred  # the node aligned it already
    assert np.isnan(align_to_ground_truth(pred, np.zeros_like(truth), "lstsq")).all()  # no fit: uncovered


# -- CLI and HTTP API ---------------------------------------------------------------------------------


def test_cli_predict_with_relative_and_prompt_estimators(checkpoints, relative, rgb, tmp_path, capsys) -> None:
    image, sparse_png = tmp_path / "frame.png", tmp_path / "frame_sparse.png"
    cv2.imwrite(str(image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    disparity = relative.estimate(rgb, None, K).depth_m
    truth_mm = np.round(1000.0 / (SCALE * disparity + SHIFT))
    cv2.imwrite(str(sparse_png), sparse_grid(truth_mm).astype(np.uint16))
    common = ["predict", str(image), "--device", "cpu", "--quiet"]
    da = common + ["--estimator", "depth_anything", "--checkpoint", str(checkpoints["relative"])]
    assert cli_main(da + ["--out", str(tmp_path / "da"), "--sparse-depth", str(sparse_png)]) == 0
    assert "relative_disparity output aligned to the sparse depth in inverse_depth" in capsys.readouterr().err
    np.testing.assert_allclose(np.load(tmp_path / "da" / "frame_depth.npy"), truth_mm / 1000.0, rtol=2e-3)
    # a relative estimator without LiDAR: one line, exit 2, nothing written as metres
    assert cli_main(da + ["--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lingbot-depth predict: frame.png: error: estimator 'depth_anything' outputs relative disparity "
                   "(no metric scale): send sparse depth (LiDAR) to align it to, with align scale_shift (or auto)"]
    assert not (tmp_path / "none" / "frame_depth.npy").exists()
    pda = common + ["--estimator", "prompt_depth_anything", "--checkpoint", str(checkpoints["prompt"]),
                    "--prompt-max-side", "32", "--sparse-depth", str(sparse_png), "--out", str(tmp_path / "pda")]
    assert cli_main(pda) == 0
    depth = np.load(tmp_path / "pda" / "frame_depth.npy")
    assert depth.shape == (H, W) and np.isfinite(depth).all() and 0.5 < depth.min() and depth.max() < 20.0


def test_api_aligns_relative_output_and_refuses_it_without_lidar(checkpoints, relative, rgb) -> None:
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    from fastapi.testclient import TestClient

    from lingbot_depth_ros.server.api import create_app

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    disparity = relative.estimate(rgb, None, K).depth_m
    truth = (1.0 / (SCALE * disparity + SHIFT)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, sparse_grid(truth))
    image = base64.b64encode(encoded.tobytes()).decode()
    client = TestClient(create_app(relative))
    assert client.get("/health").json()["output_kind"] == "relative_disparity"
    answer = client.post("/predict",
                         json={"image": image, "sparse_depth": base64.b64encode(buffer.getvalue()).decode()})
    body = answer.json()
    assert answer.status_code == 200, body
    assert body["mode"] == "monocular" and body["output_kind"] == "relative_disparity"
    assert body["alignment"]["space"] == "inverse_depth"
    assert body["alignment"]["scale"] == pytest.approx(SCALE, rel=1e-3)
    depth = np.load(io.BytesIO(base64.b64decode(body["depth_npy"])))
    np.testing.assert_allclose(depth, truth, rtol=1e-3)
    refused = client.post("/predict", json={"image": image})
    assert refused.status_code == 400 and "relative disparity" in refused.json()["error"]
    off = client.post("/predict", json={"image": image, "align": "off",
                                        "sparse_depth": base64.b64encode(buffer.getvalue()).decode()})
    assert off.status_code == 400 and "needs sparse depth and align scale_shift" in off.json()["error"]

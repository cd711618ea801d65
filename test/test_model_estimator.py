"""The ``lingbot`` estimator on real NYU frames with a tiny official-format checkpoint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from lingbot_depth_ros.errors import CheckpointError, ConfigError
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.modes import check_mode
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint, tiny_state

NYU_K = CameraIntrinsics(fx=518.8579, fy=519.46961, cx=325.58245, cy=253.73617, width=640, height=480)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("lingbot") / "model.pt", alias_key=True)


@pytest.fixture(scope="module")
def nyu(shared_data):
    rgb = cv2.cvtColor(cv2.imread(str(shared_data / "nyu" / "rgb_00000.jpg")), cv2.COLOR_BGR2RGB)
    gt = cv2.imread(str(shared_data / "nyu" / "sync_depth_00000.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero(gt > 0)
    pick = rng.choice(rows.size, 500, replace=False)
    sparse = np.zeros_like(gt)
    sparse[rows[pick], cols[pick]] = gt[rows[pick], cols[pick]]
    return rgb, sparse


def test_both_modes_on_a_real_frame(checkpoint, nyu):
    rgb, sparse = nyu
    est = create_estimator("lingbot", checkpoint=str(checkpoint), device="cpu", precision="fp32")
    check_mode(est, "auto")
    for depth_in in (sparse, None):
        out = est.estimate(rgb, depth_in, NYU_K)
        assert out.depth_m.shape == (480, 640) and out.depth_m.dtype == np.float32
        assert out.valid.shape == (480, 640) and out.valid.dtype == np.bool_
        assert np.all(out.depth_m[out.valid] > 0)
    assert est.name == "lingbot" and est.supported_modes == {"completion", "monocular"}


def test_describe_and_runtime_resolution(checkpoint, nyu):
    est = create_estimator("lingbot", checkpoint=str(checkpoint), device="cpu", resolution_level=2)
    text = est.describe()
    assert "model.pt" in text and "cpu" in text and "fp32" in text and "resolution_level=2" in text
    seen = []
    hook = est.model.network.encoder.backbone.blocks[0].register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].shape[1]))
    rgb, _ = nyu
    est.estimate(rgb, None, None)
    est.resolution_level = 9
    est.estimate(rgb, None, None)
    est.num_tokens = 20
    est.estimate(rgb, None, None)
    hook.remove()
    grid2 = est.model.preprocessor.grid(480, 640, resolution_level=2).num_patches
    grid9 = est.model.preprocessor.grid(480, 640, resolution_level=9).num_patches
    assert seen == [1 + grid2, 1 + grid9, 1 + est.model.preprocessor.grid(480, 640, num_tokens=20).num_patches]
    for bad in (10, -1, 2.5):
        with pytest.raises(ConfigError, match="resolution_level"):
            est.resolution_level = bad
    with pytest.raises(ConfigError, match="num_tokens"):
        est.num_tokens = 0


def test_construction_errors_are_specific(tmp_path, checkpoint):
    with pytest.raises(CheckpointError, match="missing_model.pt"):
        create_estimator("lingbot", checkpoint=str(tmp_path / "missing_model.pt"), device="cpu")
    with pytest.raises(CheckpointError, match="needs a checkpoint"):
        create_estimator("lingbot", checkpoint="", device="cpu")
    config, state = tiny_state()
    state.pop("encoder.backbone.norm.weight")
    torch.save({"model_config": config, "model": state}, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match=r"broken\.pt.*encoder\.backbone\.norm\.weight"):
        create_estimator("lingbot", checkpoint=str(tmp_path / "broken.pt"), device="cpu")
    with pytest.raises(ConfigError, match="precision"):
        create_estimator("lingbot", checkpoint=str(checkpoint), precision="fp16")
    with pytest.raises(ConfigError, match="resolution_level"):
        create_estimator("lingbot", checkpoint=str(checkpoint), resolution_level=12)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this case needs a machine without CUDA")
def test_cuda_requested_without_cuda_is_a_config_error(checkpoint):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        create_estimator("lingbot", checkpoint=str(checkpoint), device="cuda")
    est = create_estimator("lingbot", checkpoint=str(checkpoint), device="auto")
    assert est.model.device.type == "cpu"


def test_out_of_memory_and_runtime_failures_map_to_estimator_errors(checkpoint, nyu, monkeypatch):
    from lingbot_depth_ros.errors import EstimatorError, EstimatorOutOfMemory
    rgb, _ = nyu
    est = create_estimator("lingbot", checkpoint=str(checkpoint), device="cpu", resolution_level=4)

    def oom(*_args, **_kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(est.model.network, "forward", oom)
    with pytest.raises(EstimatorOutOfMemory, match="resolution_level=4"):
        est.estimate(rgb, None, None)

    def broken(*_args, **_kwargs):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")

    monkeypatch.setattr(est.model.network, "forward", broken)
    with pytest.raises(EstimatorError, match="CUDNN_STATUS_INTERNAL_ERROR") as info:
        est.estimate(rgb, None, None)
    assert not isinstance(info.value, EstimatorOutOfMemory)

"""Autocast dtype selection (the CUDA branch included) without a GPU: a pure function of device, precision and
the GPU's native bf16 support, and the context DepthModel builds from it."""

from __future__ import annotations

import warnings

import pytest
import torch

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.model import inference, load_model
from lingbot_depth_ros.model.inference import autocast_dtype, cuda_bf16_native
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint


@pytest.mark.parametrize("device_type,precision,bf16_native,expected", [
    ("cuda", "bf16", True, torch.bfloat16),   # Ampere and newer (Orin, A100, H100): bf16 autocast
    ("cuda", "bf16", False, None),            # Volta/Turing (Xavier, T4): emulated bf16 is slow -> float32
    ("cuda", "fp32", True, None),
    ("cpu", "bf16", True, None),              # the CPU always runs float32
    ("cpu", "fp32", False, None),
])
def test_autocast_dtype_selection(device_type: str, precision: str, bf16_native: bool, expected) -> None:
    assert autocast_dtype(device_type, precision, bf16_native) is expected


def test_autocast_dtype_rejects_unknown_precision() -> None:
    with pytest.raises(ConfigError, match="precision must be one of"):
        autocast_dtype("cuda", "fp16", True)


def test_bf16_probe_is_false_off_cuda() -> None:
    assert cuda_bf16_native(torch.device("cpu")) is False
    if not torch.cuda.is_available():
        assert cuda_bf16_native(torch.device("cuda")) is False


@pytest.mark.parametrize("bf16_native,expected_precision", [(True, "bf16"), (False, "fp32")])
def test_cuda_model_autocast_context_follows_the_selection(tmp_path, monkeypatch, bf16_native: bool,
                                                           expected_precision: str) -> None:
    # The hardware probe answers as an Ampere (True) or a Turing (False) GPU would; the model is not run.
    monkeypatch.setattr(inference, "cuda_bf16_native", lambda device: bf16_native)
    cpu_model = load_model(make_tiny_checkpoint(tmp_path / "model.pt", seed=1), device="cpu", precision="fp32")
    model = inference.DepthModel(cpu_model.network, cpu_model.preprocessor, device="cuda", precision="bf16")
    assert model.effective_precision == expected_precision
    assert f"({expected_precision})" in model.describe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CPU-only torch warns that CUDA autocast is disabled here
        context = model.autocast()
    if bf16_native:
        assert isinstance(context, torch.autocast)
        assert context.device == "cuda" and context.fast_dtype == torch.bfloat16
    else:
        assert not isinstance(context, torch.autocast)

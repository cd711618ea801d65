"""The temporal filter for a device: numpy/OpenCV on the host, torch on a torch device (issue 21: "the GPU path:
torch on the estimator's device for lingbot; numpy/OpenCV for classical"). torch is imported only when a torch
device is asked for (a robot install without torch runs the numpy filter)."""

from __future__ import annotations

from lingbot_depth_ros.optional import require
from lingbot_depth_ros.pipeline.temporal_filter import TemporalFilter, TemporalSettings

#: device names that mean the numpy/OpenCV filter (on the host, where the CPU estimators' depth is)
HOST_DEVICES = (None, "", "cpu", "numpy")


def make_temporal_filter(settings: TemporalSettings | None = None, device: str | None = None) -> TemporalFilter:
    """The numpy/OpenCV :class:`TemporalFilter` for ``device`` None, ``"cpu"`` or ``"numpy"`` (on a CPU the
    numpy filter is the faster: bench/bench_temporal_cost.py), else the
    :class:`~lingbot_depth_ros.pipeline.temporal_filter_torch.TorchTemporalFilter` with its history on that torch
    device (``"cuda"``, ``"cuda:1"``; ``"torch:cpu"`` = the torch filter on the CPU, for tests and benches).

    Raises:
        lingbot_depth_ros.optional.MissingExtraError: a torch device without torch installed.
        lingbot_depth_ros.errors.ConfigError: a torch device this machine cannot use (no CUDA, no such device).
    """
    if device in HOST_DEVICES:
        return TemporalFilter(settings)
    assert device is not None
    require(f"the temporal filter on device '{device}'", "torch")
    from lingbot_depth_ros.pipeline.temporal_filter_torch import TorchTemporalFilter
    return TorchTemporalFilter(settings, device.removeprefix("torch:"))

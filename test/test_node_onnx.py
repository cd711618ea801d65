"""End to end (issue 15 §2): the node with ``estimator: lingbot, lingbot.backend: onnxruntime`` (an engine
exported from a tiny checkpoint, CPU provider) publishes the depth the torch backend computes, in
completion and, when the sparse depth stops (auto mode), monocular: both engines, no reload."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import NodeProcess, RosHarness, wait_until
from test_node_faults import StampClock, publish_for, wait_output

from lingbot_depth_ros.cli.export import main as export_main
from lingbot_depth_ros.estimators.lingbot import LingbotEstimator
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, depth_m_to_image
from lingbot_depth_ros.synthetic.generator import SceneGenerator
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

pytest.importorskip("onnxruntime", reason="engine extra (requirements-engine.txt) not installed")
LEVEL = 0
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx_node")
    checkpoint = make_tiny_checkpoint(root / "model.pt", seed=0)
    frame = SceneGenerator(width=320, height=240, seed=3).frame(0)
    assert export_main([str(checkpoint), str(root / "engine"), "--onnx", "--level", str(LEVEL),
                        "--size", "320x240"]) == 0
    return {"checkpoint": checkpoint, "engine": root / "engine", "frame": frame}


def _torch_reference(setup, sparse: bool) -> np.ndarray:
    """Depth [m] (NaN = invalid) of the torch backend for the frame as the node receives it (16UC1 mm sparse)."""
    frame = setup["frame"]
    est = LingbotEstimator(str(setup["checkpoint"]), device="cpu", resolution_level=LEVEL)
    received = depth_m_from_image(depth_m_to_image(frame.sparse_depth_m, RosHarness.header(1), "16UC1"))
    out = est.estimate(frame.rgb, received if sparse else None, None)
    return np.where(out.valid, out.depth_m, np.nan)


def _assert_matches(published: np.ndarray, reference: np.ndarray) -> None:
    both = np.isfinite(published) & np.isfinite(reference)
    assert both.mean() > 0.9 and np.array_equal(np.isfinite(published), np.isfinite(reference))
    rel = np.abs(published[both].astype(np.float64) - reference[both]) / reference[both]
    assert rel.max() <= REL_TOL, rel.max()


def test_node_with_onnxruntime_backend_matches_torch(setup, tmp_path) -> None:
    frame = setup["frame"]
    clock = StampClock(80_000)
    params = {"estimator": "lingbot", "lingbot.backend": "onnxruntime", "lingbot.engine_dir": str(setup["engine"]),
              "lingbot.device": "cpu", "lingbot.resolution_level": LEVEL, "sparse_timeout_s": 0.4,
              "cloud.enabled": False}  # mode: the default, auto
    with NodeProcess(params, log_path=tmp_path / "onnx_node.log") as node:
        node.wait_ready()
        ready = [line for line in node.log().splitlines() if "ready:" in line][0]
        assert "onnxruntime engine" in ready and "on CPUExecutionProvider" in ready, ready
        harness = RosHarness()
        try:
            harness.wait_connected()
            stamps = publish_for(harness, frame, clock, 1.0, rate_hz=8.0)
            for _ in range(10):  # a loaded machine may need longer for discovery of every stream
                if "auto mode runs completion" in node.log():
                    break
                stamps = publish_for(harness, frame, clock, 1.0, rate_hz=8.0)
            completion = depth_m_from_image(wait_output(harness, stamps[-1], timeout=30))
            _assert_matches(completion, _torch_reference(setup, sparse=True))

            mono = publish_for(harness, frame, clock, 2.0, rate_hz=8.0, sparse=False)  # the LiDAR stops
            wait_output(harness, mono[-1], timeout=30)
            assert wait_until(lambda: "auto mode runs monocular" in node.log(), 10.0), node.log()[-3000:]
            monocular = depth_m_from_image(harness.recorders["depth/image"].by_stamp(mono[-1]))
            _assert_matches(monocular, _torch_reference(setup, sparse=False))
            assert np.nanmax(np.abs(monocular - completion)) > 1e-4  # two different engines ran
            assert node.proc.poll() is None
        finally:
            harness.close()

"""TemporalStage: one camera's sweeps + filter as the node and the offline runs use them (no rclpy)."""

from __future__ import annotations

import numpy as np
import pytest

from lingbot_depth_ros.batch.params import node_values
from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.temporal_stage import STANDING, FramePose, TemporalConfig, TemporalStage

K = CameraIntrinsics(fx=100.0, fy=100.0, cx=32.0, cy=24.0, width=64, height=48)


def _config(**params: object) -> TemporalConfig:
    return TemporalConfig.from_params(node_values(overrides={f"temporal.{k}": v for k, v in params.items()}))


def _pose(z_m: float) -> FramePose:
    pose = np.eye(4)
    pose[2, 3] = z_m
    return FramePose(pose)


def test_config_from_the_parameter_table() -> None:
    off = TemporalConfig.from_params(node_values())
    assert not off.enabled and off.sweeps.sweeps == 1 and not off.needs_pose
    on = _config(enabled=True, pose_source="odometry", reset_rel=0.2, confirm_frames=2, lidar_sweeps=3)
    assert on.filter.reset_rel == 0.2 and on.filter.confirm_frames == 2 and on.filter.pose_required
    assert on.sweeps.sweeps == 3 and on.needs_pose
    assert not _config(enabled=True).filter.pose_required   # none: a standing camera needs no motion
    with pytest.raises(ConfigError, match="temporal.pose_source"):
        _config(pose_source="gps")


def test_disabled_stage_passes_through_and_forgets() -> None:
    stage = TemporalStage()
    depth = np.full((48, 64), 2.0, np.float32)
    assert stage.smooth(depth, None, K, STANDING, 0.0, _config(enabled=True)) is not None
    assert stage.filter.has_history
    assert stage.smooth(depth, None, K, STANDING, 0.1, _config()) is None
    assert not stage.filter.has_history   # turned off: the history is gone, turning on starts afresh


def test_standing_camera_blends_and_a_disagreement_resets_the_pixel() -> None:
    stage, config = TemporalStage(), _config(enabled=True)
    first = np.full((48, 64), 2.0, np.float32)
    stage.smooth(first, None, K, STANDING, 0.0, config)
    second = first + 0.1          # within reset_rel: blended towards the history
    second[10, 10] = 4.0          # far from it: reset to the new value
    out = stage.smooth(second, None, K, STANDING, 0.1, config)
    assert out is not None and out.reset_reason is None
    assert 2.0 < out.depth_m[0, 0] < 2.1
    assert out.depth_m[10, 10] == pytest.approx(4.0)
    assert out.reset_pixels == 1


def test_missing_pose_resets_once_announced_and_counted() -> None:
    stage, config = TemporalStage(), _config(enabled=True, pose_source="pose")
    depth = np.full((48, 64), 2.0, np.float32)
    stage.smooth(depth, None, K, _pose(0.0), 0.0, config)
    missing = FramePose(None, "no pose within 0.1 s of the image stamp")
    first = stage.smooth(depth, None, K, missing, 0.1, config)
    assert first is not None and first.reset_reason == "pose missing"
    message = stage.take_announcement()
    assert message is not None and "no pose within 0.1 s" in message
    stage.smooth(depth, None, K, missing, 0.2, config)
    assert stage.take_announcement() is None        # the same run: said once
    assert stage.resets["pose missing"] == 2         # but every reset counted
    stage.smooth(depth, None, K, _pose(0.0), 0.3, config)   # history without a pose: one more reset
    stage.smooth(depth, None, K, _pose(0.01), 0.4, config)  # recovered: the run ends
    stage.take_announcement()
    stage.smooth(depth, None, K, missing, 0.5, config)
    assert stage.take_announcement() is not None     # a new run is said again
    keys = dict(stage.diagnostics(config))
    assert "pose missing: 4" in keys["temporal resets"]


def test_size_change_resets_with_its_reason() -> None:
    stage, config = TemporalStage(), _config(enabled=True)
    stage.smooth(np.full((48, 64), 2.0, np.float32), None, K, STANDING, 0.0, config)
    small = CameraIntrinsics(fx=50.0, fy=50.0, cx=16.0, cy=12.0, width=32, height=24)
    out = stage.smooth(np.full((24, 32), 3.0, np.float32), None, small, STANDING, 0.1, config)
    assert out is not None and out.reset_reason == "size changed"
    assert np.all(out.depth_m == 3.0)                # the new frame alone: nothing smeared from the old size


def test_sweeps_densify_with_poses_and_reset_without() -> None:
    stage, config = TemporalStage(), _config(lidar_sweeps=3, pose_source="pose")
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        sparse = np.zeros((48, 64), np.float32)
        sparse.flat[rng.choice(48 * 64, 100, replace=False)] = 2.0
        frames.append(sparse)
    counts = [np.count_nonzero(stage.densify(f, K, _pose(0.0), 0.1 * i, config)) for i, f in enumerate(frames)]
    assert counts[0] == 100 and counts[2] > counts[1] > 100   # older sweeps fill other pixels
    assert stage.sweeps.held_points == 200                    # bounded: sweeps - 1 older frames
    alone = stage.densify(frames[0], K, FramePose(None, "no pose"), 0.3, config)
    assert np.count_nonzero(alone) == 100 and stage.resets["pose missing"] == 1
    assert stage.sweeps.held_points == 0
    assert np.count_nonzero(stage.densify(frames[1], K, _pose(0.0), 0.4, _config(pose_source="pose"))) == 100


def test_a_changed_image_or_pose_frame_resets_both_histories() -> None:
    stage, config = TemporalStage(), _config(enabled=True, pose_source="pose", lidar_sweeps=2)
    depth = np.full((48, 64), 2.0, np.float32)
    pose_odom = FramePose(np.eye(4), None, "odom")
    stage.check_frames("camera_optical", pose_odom)
    stage.densify(depth, K, pose_odom, 0.0, config)
    stage.smooth(depth, None, K, pose_odom, 0.0, config)
    stage.check_frames("camera_optical", FramePose(np.eye(4), None, "map"))
    assert not stage.filter.has_history and stage.sweeps.held_points == 0
    message = stage.take_announcement()
    assert message is not None and "pose frame 'odom' -> 'map'" in message
    stage.smooth(depth, None, K, FramePose(np.eye(4), None, "map"), 0.1, config)
    stage.check_frames("other_camera", FramePose(np.eye(4), None, "map"))
    assert not stage.filter.has_history and stage.resets["frame changed"] == 2


def test_the_stage_on_a_torch_device_filters_as_on_the_host() -> None:
    """The GPU path's wiring: a stage whose filter lives on a torch device (here torch's CPU: this machine has no
    CUDA) gives the host stage's depth and reset reasons; filter_device picks CUDA estimators only."""
    pytest.importorskip("torch", reason="the torch filter needs torch (requirements-model.txt)")
    import torch

    host, device = TemporalStage(), TemporalStage("torch:cpu")
    assert type(device.filter).__name__ == "TorchTemporalFilter"
    config = _config(enabled=True, pose_source="pose")
    rng = np.random.default_rng(1)
    for i, z in enumerate((0.0, 0.05, 0.1, None, 0.15)):
        depth = (2.0 - (z or 0.0) + rng.normal(0, 0.01, (48, 64))).astype(np.float32)
        pose = _pose(z) if z is not None else FramePose(None, "no pose")
        a = host.smooth(depth, None, K, pose, 0.1 * i, config)
        b = device.smooth(depth, None, K, pose, 0.1 * i, config)
        assert a is not None and b is not None and a.reset_reason == b.reset_reason
        np.testing.assert_allclose(b.depth_m, a.depth_m, atol=1e-4, equal_nan=True)

    class Model:
        device = torch.device("cpu")

    class Estimator:
        model = Model()

    from lingbot_depth_ros.pipeline.temporal_stage import filter_device
    assert filter_device(Estimator()) is None and filter_device(object()) is None
    Model.device = torch.device("cuda", 1)   # a device object only: nothing runs on it
    assert filter_device(Estimator()) == "cuda:1"

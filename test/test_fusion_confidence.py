"""Confidence-weighted TSDF integration without ROS (issue 20, fusion): low-confidence pixels carrying a wrong
depth barely move the fused surface while unweighted they do, ``confidence_min`` leaves pixels out altogether,
all-ones confidence gives Open3D's own (unweighted) result, and out-of-range thresholds / maps are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

pytest.importorskip("open3d")

K_SMALL = CameraIntrinsics(fx=80.0, fy=80.0, cx=39.5, cy=29.5, width=80, height=60)
TRUE_Z_M = 2.03
WRONG_Z_M = 2.15  # inside the truncation band (4 x 0.04 m): an unweighted average moves the surface


def _wall(z_m: float) -> np.ndarray:
    return np.full((K_SMALL.height, K_SMALL.width), z_m, np.float32)


def _fuse(*, weighted: bool, wrong_confidence: float, confidence_min: float = 0.0) -> tuple[np.ndarray, object]:
    """Three frames of the true wall (confidence 0.9) interleaved with three whose left half carries the wrong
    depth at ``wrong_confidence``; returns the fused (N, 3) points and the volume."""
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion

    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.04, max_depth_m=4.0, weight_threshold=0.5,
                                     confidence_min=confidence_min))
    wrong = _wall(TRUE_Z_M)
    wrong[:, :40] = WRONG_Z_M
    wrong_conf = np.full(wrong.shape, 0.9, np.float32)
    wrong_conf[:, :40] = wrong_confidence
    good_conf = np.full(wrong.shape, 0.9, np.float32)
    for _ in range(3):
        fusion.integrate(_wall(TRUE_Z_M), K_SMALL, np.eye(4), confidence=good_conf if weighted else None)
        fusion.integrate(wrong, K_SMALL, np.eye(4), confidence=wrong_conf if weighted else None)
    return fusion.point_cloud()[0], fusion


def _left_z(xyz: np.ndarray) -> float:
    """Median z [m] of the fused points in the left half (x < -0.2 m at the wall, clear of the step)."""
    left = xyz[xyz[:, 0] < -0.2]
    assert len(left) > 50
    return float(np.median(left[:, 2]))


def test_low_confidence_wrong_depth_barely_moves_the_surface() -> None:
    unweighted, _ = _fuse(weighted=False, wrong_confidence=0.05)
    weighted, _ = _fuse(weighted=True, wrong_confidence=0.05)
    # unweighted: half the observations say 2.15 m -> the surface lands half way (~2.09 m)
    assert _left_z(unweighted) - TRUE_Z_M > 0.04
    # weighted: 3 x 0.05 against 3 x 0.9 -> (0.15 * 0.12) / 2.85 = 6 mm off at most
    assert abs(_left_z(weighted) - TRUE_Z_M) < 0.012
    # the right half (correct in every frame) is where it was either way
    right = weighted[weighted[:, 0] > 0.2]
    assert abs(float(np.median(right[:, 2])) - TRUE_Z_M) < 0.01


def test_confidence_min_leaves_the_pixels_out_altogether() -> None:
    _, gated = _fuse(weighted=True, wrong_confidence=0.3, confidence_min=0.5)
    _, clean = _fuse(weighted=True, wrong_confidence=0.9, confidence_min=0.5)  # wrong frames all trusted
    xyz_gated = gated.point_cloud()[0]  # type: ignore[attr-defined]
    assert abs(_left_z(xyz_gated) - TRUE_Z_M) < 0.01  # the wrong pixels (0.3 < 0.5) never entered the volume
    assert _left_z(clean.point_cloud()[0]) - TRUE_Z_M > 0.04  # type: ignore[attr-defined]
    # the left half's voxels carry only the three true frames' weight (3 x 0.9), the right half six frames'
    from lingbot_depth_ros.fusion.tsdf import TsdfFusion

    assert isinstance(gated, TsdfFusion)
    weights = gated._grid.attribute("weight").numpy().ravel()
    assert np.isclose(weights.max(), 5.4, atol=1e-4) and np.any(np.isclose(weights, 2.7, atol=1e-4))
    # a frame whose every pixel is below the gate is "nothing to fuse", saying why, and leaves the volume alone
    from lingbot_depth_ros.fusion.tsdf import NothingToFuseError

    before = gated.stats.frames_integrated
    with pytest.raises(NothingToFuseError, match="below confidence_min 0.5"):
        gated.integrate(_wall(TRUE_Z_M), K_SMALL, np.eye(4), confidence=np.full((60, 80), 0.2, np.float32))
    assert gated.stats.frames_integrated == before and gated.stats.frames_empty == 1


def test_all_ones_confidence_is_open3d_unweighted_result_and_none_is_unchanged() -> None:
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion
    from lingbot_depth_ros.synthetic import SceneGenerator

    gen = SceneGenerator(width=160, height=120, seed=0)
    frames = list(gen.frames(4))
    volumes = {}
    rng = np.random.default_rng(0)
    varied = [rng.uniform(0.2, 1.0, f.depth_gt_m.shape).astype(np.float32) for f in frames]
    for name in ("none", "ones", "none again", "varied", "varied by tensor indexing"):
        fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05, max_depth_m=5.0, weight_threshold=1.0))
        fusion._host_attributes = name != "varied by tensor indexing"  # the update path of a CUDA device, on the CPU
        for f, conf in zip(frames, varied):
            ones = np.ones(f.depth_gt_m.shape, np.float32)
            weights = {"ones": ones, "none": None, "none again": None}.get(name, conf)
            fusion.integrate(f.depth_gt_m, f.intrinsics, f.camera_pose, rgb=f.rgb, confidence=weights)
        volumes[name] = fusion.point_cloud()
    (xyz0, rgb0), (xyz1, rgb1), (xyz2, rgb2) = volumes["none"], volumes["ones"], volumes["none again"]
    order0, order1, order2 = np.lexsort(xyz0.T), np.lexsort(xyz1.T), np.lexsort(xyz2.T)  # hash-map order varies
    # None: Open3D's own path, bit for bit the same volume
    assert np.array_equal(xyz0[order0], xyz2[order2]) and np.array_equal(rgb0[order0], rgb2[order2])
    assert len(xyz0) > 1000 and xyz1.shape == xyz0.shape  # same voxels crossed
    np.testing.assert_allclose(xyz1[order1], xyz0[order0], atol=1e-4)  # float rounding of the average only
    assert np.abs(rgb1[order1].astype(int) - rgb0[order0].astype(int)).max() <= 1
    # the two update paths (numpy views on a CPU, tensor indexing elsewhere) give the same volume
    (xyz3, rgb3), (xyz4, rgb4) = volumes["varied"], volumes["varied by tensor indexing"]
    order3, order4 = np.lexsort(xyz3.T), np.lexsort(xyz4.T)
    assert len(xyz3) > 1000 and xyz3.shape == xyz4.shape and len(xyz3) != len(xyz0)  # weights < 1: fewer pass
    np.testing.assert_allclose(xyz4[order4], xyz3[order3], atol=1e-5)
    assert np.abs(rgb4[order4].astype(int) - rgb3[order3].astype(int)).max() <= 1


def test_thresholds_and_maps_outside_0_1_are_refused_with_the_reason() -> None:
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion
    from lingbot_depth_ros.params.fusion import check_values

    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match="confidence_min must be within 0..1"):
            FusionConfig(confidence_min=bad)
    with pytest.raises(ConfigError, match="fusion.confidence_min=1.5 is above its maximum"):
        check_values({"fusion.confidence_min": 1.5})
    with pytest.raises(ConfigError, match="fusion.confidence_min=-0.2 is below its minimum"):
        check_values({"fusion.confidence_min": -0.2})
    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05, weight_threshold=0.5))
    with pytest.raises(InputError, match="confidence_min must be within 0..1"):
        fusion.set_confidence_min(1.01)  # the node's runtime change goes through the same check
    assert fusion.config.confidence_min == 0.0
    too_high = np.full((60, 80), 1.2, np.float32)
    with pytest.raises(InputError, match=r"confidence must be within 0..1 \(NaN = none\), got values in \[1.2"):
        fusion.integrate(_wall(TRUE_Z_M), K_SMALL, np.eye(4), confidence=too_high)
    with pytest.raises(InputError, match=r"confidence \(30, 40\) does not match depth \(60, 80\)"):
        fusion.integrate(_wall(TRUE_Z_M), K_SMALL, np.eye(4), confidence=np.ones((30, 40), np.float32))
    assert fusion.stats.frames_rejected == 2 and fusion.stats.frames_integrated == 0
    # NaN confidence = that pixel is not fused (the depth node's map is NaN where the depth is NaN)
    half_nan = np.ones((60, 80), np.float32)
    half_nan[:, :40] = np.nan
    fusion.integrate(_wall(TRUE_Z_M), K_SMALL, np.eye(4), confidence=half_nan)
    fusion.integrate(_wall(TRUE_Z_M), K_SMALL, np.eye(4), confidence=half_nan)
    xyz = fusion.point_cloud()[0]
    assert len(xyz) > 50 and xyz[:, 0].min() > -0.05  # nothing left of the image centre


def test_fuse_cli_weights_by_the_estimators_confidence_on_the_scene_bag(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``lingbot-depth fuse --confidence-weighting`` on a scene bag (classical completion of its LiDAR): every
    frame weighted by the confidence made from the estimator's cues; the fused points lie closer to the true
    surfaces than unweighted; a threshold outside 0..1 or without weighting is one line, exit 2."""
    import json

    from lingbot_depth_ros.bags.datasets import write_scene_bag
    from lingbot_depth_ros.cli.main import main
    from lingbot_depth_ros.fusion.ground_truth import distance_to_layout
    from lingbot_depth_ros.io.ply import read_ply
    from lingbot_depth_ros.synthetic import SceneGenerator

    bag = tmp_path / "bag"
    write_scene_bag(bag, 6, width=320, height=240, seed=0)
    layout = SceneGenerator(width=320, height=240, seed=0).layout
    mean_mm = {}
    for name, extra in (("off", []), ("on", ["--confidence-weighting"]),
                        ("gated", ["--confidence-weighting", "--confidence-min", "0.5"])):
        assert main(["fuse", str(bag), "--out", str(tmp_path / name), "--voxel", "0.04", "--max-depth", "5",
                     "--quiet", "--no-picture", *extra]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["confidence_weighting"] is (name != "off")
        if name != "off":
            assert summary["frames_unweighted"] == 0 and summary["confidence_min"] == (0.5 if name == "gated" else 0)
        xyz, _ = read_ply(tmp_path / name / "fused.ply")
        dist = distance_to_layout(xyz, layout.room_min, layout.room_max, np.array([b.lo for b in layout.boxes]),
                                  np.array([b.hi for b in layout.boxes]))
        mean_mm[name] = float(dist.mean()) * 1000
    # measured 16.0 / 10.3 / 8.4 mm: the low-confidence completion (far from LiDAR, across edges) weighs less
    assert mean_mm["on"] < 0.8 * mean_mm["off"] and mean_mm["gated"] < mean_mm["on"], mean_mm
    for extra, reason in ((["--confidence-weighting", "--confidence-min", "1.5"], "confidence_min must be within 0..1"),
                          (["--confidence-min", "0.5"], "--confidence-min needs --confidence-weighting")):
        assert main(["fuse", str(bag), "--out", str(tmp_path / "bad"), "--quiet", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and reason in err, err


@pytest.mark.parametrize("weighted", [True, False], ids=["weighted", "unweighted"])
def test_blocks_reallocated_after_the_memory_bound_start_empty(weighted: bool) -> None:
    """Blocks dropped by the memory bound free their memory, and Open3D's hash map hands it out again without
    clearing it: blocks allocated later (weighted or Open3D's own integration) must start from weight 0, not the
    old wall's weight (before this issue the unweighted path averaged into it: weight 6 after one frame)."""
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion

    def at_x(x_m: float) -> np.ndarray:
        pose = np.eye(4)
        pose[0, 3] = x_m
        return pose

    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.05, max_depth_m=4.0, weight_threshold=0.5, max_distance_m=3.0))
    ones = np.ones((60, 80), np.float32) if weighted else None
    for _ in range(5):
        fusion.integrate(_wall(2.03), K_SMALL, at_x(0.0), confidence=ones)
    fusion.integrate(_wall(1.53), K_SMALL, at_x(10.0), confidence=ones)
    assert fusion.stats.blocks_dropped > 0  # the first wall's blocks are gone
    last = np.full((60, 80), 0.3, np.float32) if weighted else None
    fusion.integrate(_wall(2.53), K_SMALL, at_x(20.0), confidence=last)
    active = fusion._grid.hashmap().active_buf_indices().numpy()
    weights = fusion._grid.attribute("weight").numpy()[active]
    assert np.isclose(weights.max(), 0.3 if weighted else 1.0), weights.max()  # one frame, nothing older
    if not weighted:  # (weighted: 0.3 is below the weight threshold, no points yet)
        xyz = fusion.point_cloud()[0]
        assert len(xyz) > 100 and xyz[:, 0].min() > 18.0 and np.all(np.abs(xyz[:, 2] - 2.53) < 0.05)


def test_fuse_takes_a_bags_recorded_confidence_or_says_it_has_none(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A bag with recorded depth (a wrong left half in every other frame) and depth/confidence beside it (0.05
    there): --confidence-weighting keeps the wrong half out of the map; a bag with the depth alone is fused
    unweighted, said once on stderr and counted."""
    import json

    from lingbot_depth_ros.bags.datasets import scene_frames
    from lingbot_depth_ros.bags.files import BagWriter
    from lingbot_depth_ros.bags.messages import IMAGE_TYPE, image_message
    from lingbot_depth_ros.bags.topics import StreamTopics
    from lingbot_depth_ros.cli.main import main
    from lingbot_depth_ros.fusion.ground_truth import distance_to_layout
    from lingbot_depth_ros.io.ply import read_ply
    from lingbot_depth_ros.synthetic import SceneGenerator

    depth_topic = "/camera/depth/image"
    topics = StreamTopics(depth_gt=depth_topic)  # the bag's "ground truth" topic carries the recorded depth
    for name, with_confidence in (("with", True), ("without", False)):
        with BagWriter(tmp_path / name, topics=topics) as writer:
            for i, frame in enumerate(scene_frames(6, width=160, height=120, seed=1, lidar_points=False)):
                assert frame.depth_gt_m is not None
                depth, confidence = frame.depth_gt_m.copy(), np.full(frame.depth_gt_m.shape, 0.9, np.float32)
                if i % 2:
                    depth[:, :80] += 0.5  # wrong by 0.5 m, and said to be unsure
                    confidence[:, :80] = 0.05
                frame.depth_gt_m = depth
                writer.write(frame)
                if with_confidence:  # the depth node's confidence beside its depth (BagWriter has no topic for it)
                    writer._write("/camera/depth/confidence", IMAGE_TYPE,
                                  image_message(confidence, "32FC1", frame.stamp_ns, frame.camera_frame_id),
                                  frame.stamp_ns)
    layout = SceneGenerator(width=160, height=120, seed=1).layout
    p95_mm = {}
    for name, extra in (("with", []), ("with", ["--confidence-weighting"]), ("without", ["--confidence-weighting"])):
        out = tmp_path / f"out_{name}_{len(extra)}"
        assert main(["fuse", str(tmp_path / name), "--out", str(out), "--voxel", "0.05", "--max-depth", "5",
                     "--depth-topic", depth_topic, "--quiet", "--no-picture", *extra]) == 0
        captured = capsys.readouterr()
        summary = json.loads(captured.out.strip().splitlines()[-1])
        assert summary["estimator"] is None  # the recorded depth, no estimator
        xyz, _ = read_ply(out / "fused.ply")
        dist = distance_to_layout(xyz, layout.room_min, layout.room_max, np.array([b.lo for b in layout.boxes]),
                                  np.array([b.hi for b in layout.boxes]))
        p95_mm[(name, len(extra))] = float(np.percentile(dist, 95)) * 1000
        if extra and name == "with":
            assert summary["frames_unweighted"] == 0 and "unweighted" not in captured.err
        if extra and name == "without":
            assert summary["frames_unweighted"] == 6
            assert captured.err.count("fused unweighted: no confidence of its size recorded with its depth") == 1
    assert p95_mm[("with", 1)] < 0.5 * p95_mm[("with", 0)], p95_mm  # the wrong half barely enters the map
    assert p95_mm[("without", 1)] > 2 * p95_mm[("with", 1)], p95_mm  # no confidence: as unweighted

"""Report figures and files without ROS: error vs distance, latency statistics, pictures, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.evaluation.frames import (
    FrameInputs,
    FrameOutcome,
    RunResult,
    latency_stats,
    mean_metrics,
    score_frame,
)
from lingbot_depth_ros.evaluation.report import write_report
from lingbot_depth_ros.evaluation.report_figures import distance_edges, error_by_distance, frame_panel, picture_indices

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_error_by_distance_bins_known_errors() -> None:
    gt = np.array([[1.0, 1.5, 3.0, 3.5, 0.0]], np.float32)
    pred = np.array([[1.1, 1.3, 3.0, np.nan, 2.0]], np.float32)  # errors 0.1, 0.2 | 0.0, missing | no GT
    curve = error_by_distance([(pred, gt)], np.array([0.0, 2.0, 4.0]))
    assert curve["count"] == [2, 1] and curve["gt_count"] == [2, 2]
    assert curve["mae_m"][0] == pytest.approx(0.15, abs=1e-6)
    assert curve["rmse_m"][0] == pytest.approx(np.sqrt((0.01 + 0.04) / 2), abs=1e-6)
    assert curve["mae_m"][1] == pytest.approx(0.0, abs=1e-7)
    empty = error_by_distance([(pred, gt)], np.array([10.0, 20.0]))
    assert empty["mae_m"] == [None] and empty["count"] == [0]


def test_distance_edges_are_round_and_cover_the_data() -> None:
    edges = distance_edges([np.array([[0.5, 7.3, 0.0]], np.float32)])
    assert edges[0] == 0.0 and edges[-1] >= 7.3
    assert np.allclose(np.diff(edges), edges[1] - edges[0])
    assert (edges[1] - edges[0]) in (0.5, 1.0, 2.0)


def test_latency_and_metric_aggregation() -> None:
    stats = latency_stats([10.0, 20.0, 30.0, 40.0])
    assert stats["mean"] == 25.0 and stats["min"] == 10.0 and stats["max"] == 40.0 and stats["p50"] == 25.0
    assert latency_stats([])["mean"] is None
    mean = mean_metrics([{"rmse_mm": 10.0, "n_valid": 5.0}, {"rmse_mm": float("nan"), "n_valid": 0.0},
                         {"rmse_mm": 30.0, "n_valid": 7.0}])
    assert mean["rmse_mm"] == 20.0 and mean["n_valid"] == 12.0 and mean["n_frames"] == 3.0
    assert picture_indices(20, 4) == [0, 6, 13, 19]
    assert picture_indices(3, 8) == [0, 1, 2]


def test_run_summary_counts_drops_and_throughput() -> None:
    outcomes = [FrameOutcome(0, 0, True, 40.0, {"rmse_mm": 100.0}), FrameOutcome(1, 1, False),
                FrameOutcome(2, 2, True, 60.0, {"rmse_mm": 300.0})]
    summary = RunResult("x", outcomes, first_send_s=10.0, last_receive_s=11.0).summary()
    assert (summary["frames_sent"], summary["frames_answered"], summary["frames_dropped"]) == (3, 2, 1)
    assert summary["throughput_hz"] == pytest.approx(2.0)
    assert summary["latency_ms"]["mean"] == 50.0 and summary["metrics"]["rmse_mm"] == 200.0


def test_write_report_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    inputs, good, partial = [], {}, {}
    for i in range(3):
        gt = rng.uniform(1.0, 9.0, (48, 64)).astype(np.float32)
        sparse = np.where(rng.random((48, 64)) < 0.05, gt, 0).astype(np.float32)
        inputs.append(FrameInputs(i, 1000 + i, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), sparse, gt))
        good[i] = gt + 0.05
        partial[i] = np.where(np.arange(64)[None, :] < 32, gt * 1.2, np.nan).astype(np.float32)
    def outcome(i: int, pred: np.ndarray, latency_ms: float) -> FrameOutcome:
        gt = inputs[i].depth_gt_m
        return FrameOutcome(i, 1000 + i, True, latency_ms, score_frame(pred, gt),
                            metrics_all=score_frame(pred, gt, invalid="nearest"))

    runs = [RunResult("good", [outcome(i, good[i], 30.0 + i) for i in range(3)], good, 0.0, 0.5),
            RunResult("partial", [outcome(0, partial[0], 50.0), FrameOutcome(1, 1001, False),
                                  FrameOutcome(2, 1002, False)], {0: partial[0]}, 0.0, 1.0)]
    paths = write_report(tmp_path / "rep", inputs, runs, meta={"bag": "synthetic"}, tile_width=128)

    def no_nan(token: str) -> float:
        raise AssertionError(f"JSON must not contain {token}")

    document = json.loads(paths.json.read_text(), parse_constant=no_nan)
    good_summary, partial_summary = document["runs"]
    assert good_summary["metrics"]["mae_mm"] == pytest.approx(50.0, rel=1e-3)
    assert partial_summary["frames_dropped"] == 2
    assert partial_summary["metrics"]["coverage"] == pytest.approx(0.5)
    assert document["frames"]["partial"][1]["metrics"] is None
    # Both pixel sets: the fully covered run scores the same on both, the half-covered one is scored on
    # all 48x64 ground-truth pixels too (its right half filled from the nearest prediction, 20 % too far).
    assert good_summary["metrics_all"]["rmse_mm"] == pytest.approx(good_summary["metrics"]["rmse_mm"])
    assert partial_summary["metrics"]["n_valid"] == 48 * 32 and partial_summary["metrics_all"]["n_valid"] == 48 * 64
    assert partial_summary["metrics_all"]["coverage"] == pytest.approx(0.5)
    assert partial_summary["metrics_all"]["rmse_mm"] != pytest.approx(partial_summary["metrics"]["rmse_mm"], rel=0.01)
    assert document["frames"]["partial"][0]["metrics_all"]["n_valid"] == 48 * 64
    assert set(document["pixel_sets"]) == {"metrics", "metrics_all"}
    markdown = paths.markdown.read_text()
    assert "| good | 3 / 3 | 0 |" in markdown and "| partial | 1 / 3 | 2 |" in markdown
    assert "RMSE covered px [mm] | RMSE all GT px [mm]" in markdown
    covered = markdown.index("## Accuracy on covered pixels")
    everything = markdown.index("## Accuracy on all valid ground-truth pixels")
    all_rmse = f"| partial | {partial_summary['metrics_all']['rmse_mm']:.1f} |"
    covered_rmse = f"| partial | {partial_summary['metrics']['rmse_mm']:.1f} |"
    assert covered < markdown.index(covered_rmse) < everything < markdown.index(all_rmse)
    page = paths.html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<td>good</td><td>3 / 3</td>" in page
    assert page.count("<img ") == 4 and "<b>bag</b>: synthetic" in page
    assert "<h2>Accuracy on all valid ground-truth pixels</h2>" in page
    assert paths.plot is not None and len(paths.pictures) == 3
    for picture in [paths.plot, *paths.pictures]:
        assert picture.read_bytes()[:8] == PNG_SIGNATURE
        assert cv2.imread(str(picture)) is not None
    panel = cv2.imread(str(paths.pictures[1]))
    assert panel.shape == (2 * 96, 5 * 128, 3)  # two runs x five 128-px tiles of a 64x48 frame


def test_wide_frames_are_laid_out_in_columns() -> None:
    gt = np.full((30, 100), 5.0, np.float32)
    frame = FrameInputs(0, 0, np.zeros((30, 100, 3), np.uint8), np.where(np.arange(100) % 7 == 0, gt, 0), gt)
    panel = frame_panel(frame, [("a", gt + 0.1), ("b", None)], tile_width=40)
    assert panel.shape == (5 * 24, 2 * 80, 3)  # tiles 2 x 40 px wide, stacked per run; runs side by side


def test_scene_and_every_evaluation_module_import_no_ros() -> None:
    """All of lingbot_depth_ros.evaluation (bags, converters, replay setup and scoring, report) and the
    scene run without ROS; the ROS side of the replay lives in lingbot_depth_ros.ros.replay_*."""
    import subprocess
    import sys

    import lingbot_depth_ros.evaluation as evaluation

    modules = sorted(p.stem for p in Path(evaluation.__file__).parent.glob("*.py") if p.stem != "__init__")
    assert {"replay", "report", "metrics"} <= set(modules)
    code = ("import importlib, sys\n"
            "import lingbot_depth_ros.synthetic, lingbot_depth_ros.messages.pointcloud_fields\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module('lingbot_depth_ros.evaluation.' + name)\n"
            "leaked = [m for m in ('rclpy', 'sensor_msgs', 'tf2_msgs', 'torch') if m in sys.modules]\n"
            "assert not leaked, leaked\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

"""Report figures: error vs distance (table data and a cv2 plot) and the per-frame picture panels. No rclpy."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np

from lingbot_depth_ros.colorize import colorize_depth
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.frames import FrameInputs

_RUN_COLOURS_BGR = ((40, 90, 230), (200, 120, 30), (60, 170, 60), (160, 60, 160), (30, 170, 200))


# ---------------------------------------------------------------------------------- error vs distance
class DistanceErrors(TypedDict):
    """Errors per ground-truth distance bin (report.json ``error_vs_distance``); None: no pixel in the bin."""

    edges_m: list[float]  # (B + 1,) bin edges [m]
    mae_m: list[float | None]  # (B,) [m]
    rmse_m: list[float | None]  # (B,) [m]
    count: list[int]  # (B,) pixels with valid prediction and ground truth
    gt_count: list[int]  # (B,) pixels with valid ground truth


def distance_edges(gts: list[np.ndarray], n_bins: int = 10) -> np.ndarray:
    """Bin edges [m] from 0 to a round number above the 99th percentile of the valid ground truth."""
    valid = [g[(g > 0) & np.isfinite(g)] for g in gts]
    values = np.concatenate(valid) if valid else np.zeros(0)
    if values.size == 0:
        return np.linspace(0.0, 10.0, n_bins + 1)
    top = float(np.percentile(values, 99.5))
    step = _nice_step(top / n_bins)
    return np.arange(0.0, step * (math.ceil(top / step) + 1) + 1e-9, step)


def error_by_distance(pairs: list[tuple[np.ndarray, np.ndarray]], edges: np.ndarray) -> DistanceErrors:
    """MAE, RMSE [m] and pixel counts per ground-truth distance bin, pooled over ``pairs`` of (pred, gt).

    ``count``: pixels where both are valid (finite, > 0), the ones the errors use; ``gt_count``:
    pixels with valid ground truth in the bin (so ``count / gt_count`` is the bin's coverage).
    """
    n_bins = len(edges) - 1
    abs_sum = np.zeros(n_bins)
    sq_sum = np.zeros(n_bins)
    count = np.zeros(n_bins, dtype=np.int64)
    gt_count = np.zeros(n_bins, dtype=np.int64)
    for pred, gt in pairs:
        with np.errstate(invalid="ignore"):
            gt_bins = np.digitize(gt[np.isfinite(gt) & (gt > 0)], edges) - 1
        gt_count += np.bincount(gt_bins[(gt_bins >= 0) & (gt_bins < n_bins)], minlength=n_bins)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(pred) & (pred > 0) & np.isfinite(gt) & (gt > 0)
        g = gt[ok].astype(np.float64)
        e = pred[ok].astype(np.float64) - g
        bins = np.digitize(g, edges) - 1
        inside = (bins >= 0) & (bins < n_bins)
        abs_sum += np.bincount(bins[inside], weights=np.abs(e[inside]), minlength=n_bins)
        sq_sum += np.bincount(bins[inside], weights=e[inside] ** 2, minlength=n_bins)
        count += np.bincount(bins[inside], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.where(count > 0, abs_sum / np.maximum(count, 1), np.nan)
        rmse = np.where(count > 0, np.sqrt(sq_sum / np.maximum(count, 1)), np.nan)
    return {"edges_m": [float(v) for v in edges],
            "mae_m": [None if not np.isfinite(v) else float(v) for v in mae],
            "rmse_m": [None if not np.isfinite(v) else float(v) for v in rmse],
            "count": [int(c) for c in count], "gt_count": [int(c) for c in gt_count]}


def _nice_step(raw: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, >= ``raw``."""
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * power >= raw - 1e-12:
            return m * power
    return 10.0 * power


def plot_error_vs_distance(curves: dict[str, DistanceErrors], path: Path,
                           size: tuple[int, int] = (900, 540)) -> Path:
    """Line plot (drawn with cv2) of MAE (thick) and RMSE (thin) [m] vs ground-truth distance per run.

    Args:
        curves: run label -> output of :func:`error_by_distance` (same edges for all runs).
        path: PNG to write.
    """
    width, height = size
    left, right, top, bottom = 80, 30, 50, 70
    canvas = np.full((height, width, 3), 255, np.uint8)
    if not curves:
        raise InputError("no curves to plot")
    edges = np.asarray(next(iter(curves.values()))["edges_m"], dtype=np.float64)
    centres = 0.5 * (edges[:-1] + edges[1:])
    y_values = [v for c in curves.values() for errors in (c["mae_m"], c["rmse_m"]) for v in errors if v is not None]
    y_top = max(y_values) * 1.1 if y_values else 1.0
    y_step = _nice_step(y_top / 5)
    y_top = y_step * math.ceil(y_top / y_step) if y_top > 0 else 1.0
    x_top = float(edges[-1])

    def to_px(x: float, y: float) -> tuple[int, int]:
        return (int(round(left + (width - left - right) * x / x_top)),
                int(round(height - bottom - (height - top - bottom) * y / y_top)))

    grey, black = (200, 200, 200), (30, 30, 30)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for y in np.arange(0.0, y_top + 1e-9, y_step):
        p0, p1 = to_px(0.0, y), to_px(x_top, y)
        cv2.line(canvas, p0, p1, grey, 1)
        cv2.putText(canvas, f"{y:g}", (5, p0[1] + 5), font, 0.45, black, 1, cv2.LINE_AA)
    for x in edges:
        p = to_px(float(x), 0.0)
        cv2.line(canvas, p, (p[0], p[1] + 6), black, 1)
        cv2.putText(canvas, f"{x:g}", (p[0] - 10, p[1] + 22), font, 0.45, black, 1, cv2.LINE_AA)
    cv2.line(canvas, to_px(0, 0), to_px(x_top, 0), black, 2)
    cv2.line(canvas, to_px(0, 0), to_px(0, y_top), black, 2)
    cv2.putText(canvas, "ground-truth depth [m]", (width // 2 - 100, height - 20), font, 0.55, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, "error [m]: MAE (thick), RMSE (thin)", (left, 30), font, 0.55, black, 1, cv2.LINE_AA)
    for k, (label, curve) in enumerate(curves.items()):
        colour = _RUN_COLOURS_BGR[k % len(_RUN_COLOURS_BGR)]
        for errors, thickness in ((curve["mae_m"], 3), (curve["rmse_m"], 1)):
            points = [to_px(float(x), float(v)) for x, v in zip(centres, errors) if v is not None]
            if len(points) > 1:
                cv2.polylines(canvas, [np.array(points, np.int32)], False, colour, thickness, cv2.LINE_AA)
            for p in points:
                cv2.circle(canvas, p, 4 if thickness > 1 else 2, colour, -1, cv2.LINE_AA)
        legend_y = top + 20 + 22 * k
        cv2.line(canvas, (width - right - 220, legend_y), (width - right - 180, legend_y), colour, 3)
        cv2.putText(canvas, label, (width - right - 170, legend_y + 5), font, 0.55, black, 1, cv2.LINE_AA)
    return write_png(path, canvas)


# ---------------------------------------------------------------------------------- frame pictures
def _tile(rgb: np.ndarray, label: str, width: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = width / w
    tile = cv2.resize(rgb, (width, max(1, int(round(h * scale)))), interpolation=cv2.INTER_AREA if scale < 1
                      else cv2.INTER_NEAREST)
    tile = np.ascontiguousarray(tile)
    cv2.rectangle(tile, (0, 0), (width, 20), (0, 0, 0), -1)
    cv2.putText(tile, label, (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def frame_panel(inputs: FrameInputs, predictions: list[tuple[str, np.ndarray | None]], tile_width: int = 400
                ) -> np.ndarray:
    """RGB | sparse | prediction | ground truth | |error| (one row per run), (H', W', 3) uint8 RGB.

    Frames wider than 2:1 (KITTI) are laid out transposed: one column per run, tiles twice as wide.

    Depth tiles share one colour range (from the ground truth, else the first prediction); the
    error tile maps 0..e_max (95th percentile of the frame's errors) to the inferno colormap, grey
    where the ground truth is valid but the prediction is missing.
    """
    gt = inputs.depth_gt_m
    reference = gt if gt is not None and np.any(gt > 0) else next((p for _, p in predictions if p is not None), None)
    if reference is not None and np.any(np.isfinite(reference) & (reference > 0)):
        valid_ref = reference[np.isfinite(reference) & (reference > 0)]
        near, far = float(np.percentile(valid_ref, 1)), float(np.percentile(valid_ref, 99))
        depth_range = (near, max(far, near + 0.1))
    else:
        depth_range = (0.1, 10.0)
    h, w = inputs.rgb.shape[:2]
    blank = np.zeros((h, w, 3), np.uint8)
    sparse_tile = blank
    if inputs.sparse_depth_m is not None:
        dilated = cv2.dilate(np.nan_to_num(inputs.sparse_depth_m).astype(np.float32), np.ones((3, 3), np.uint8))
        sparse_tile = colorize_depth(dilated, range_m=depth_range)
    gt_tile = colorize_depth(gt, range_m=depth_range) if gt is not None else blank
    errors = []
    for _, pred in predictions:
        if pred is not None and gt is not None:
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(pred) & (pred > 0) & (gt > 0)
            errors.append(np.abs(pred[ok] - gt[ok]))
    pooled = np.concatenate(errors) if errors else np.zeros(0)
    e_max = max(float(np.percentile(pooled, 95)), 0.01) if pooled.size else 1.0
    wide = w > 2 * h  # e.g. KITTI 1242x375: tiles stacked in a column per run, runs side by side
    if wide:
        tile_width = min(w, 2 * tile_width)
    rows = []
    for label, pred in predictions:
        pred_tile = colorize_depth(pred, range_m=depth_range) if pred is not None else blank
        err_tile = blank
        if pred is not None and gt is not None:
            with np.errstate(invalid="ignore"):
                pred_ok = np.isfinite(pred) & (pred > 0)
                gt_ok = np.isfinite(gt) & (gt > 0)
                err = np.where(pred_ok & gt_ok, np.abs(pred - gt) + 1e-6, 0).astype(np.float32)
            err_tile = colorize_depth(err, range_m=(0.0, e_max), colormap="inferno", near_is_warm=False)
            err_tile[gt_ok & ~pred_ok] = 128
        name = label if pred is not None else f"{label}: no output"
        rows.append(np.concatenate([
            _tile(inputs.rgb, f"RGB #{inputs.index}", tile_width),
            _tile(sparse_tile, inputs.sparse_label, tile_width),
            _tile(pred_tile, f"{name} [{depth_range[0]:.1f}-{depth_range[1]:.1f} m]", tile_width),
            _tile(gt_tile, "ground truth", tile_width),
            _tile(err_tile, f"|error| 0-{e_max:.2f} m", tile_width)], axis=0 if wide else 1))
    return np.concatenate(rows, axis=1 if wide else 0)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise InputError(f"cannot write {path}")
    return path


def picture_indices(n_frames: int, max_pictures: int) -> list[int]:
    """Up to ``max_pictures`` positions in 0..n_frames-1, evenly spaced, first and last included."""
    if n_frames <= 0 or max_pictures <= 0:
        return []
    if n_frames <= max_pictures:
        return list(range(n_frames))
    return sorted(set(np.round(np.linspace(0, n_frames - 1, max_pictures)).astype(int).tolist()))

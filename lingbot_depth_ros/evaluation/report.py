"""Evaluation report: figures (JSON), a markdown summary and pictures. No rclpy.

The replay tool fills :class:`RunResult` objects (one per estimator run over the same bag) and the
bag's :class:`FrameInputs`; :func:`write_report` then writes into one folder:

* ``report.json``   every figure: per-frame metrics and latency, run summaries, error vs distance
* ``report.md``     the summary table, error-vs-distance table and links to the pictures
* ``report.html``   the same as one HTML page
* ``frames/frame_NNNN.png``  RGB | sparse input | prediction | ground truth | |error| side by side,
  one row per run (a subset of frames, evenly spaced)
* ``error_vs_distance.png``  MAE and RMSE per ground-truth distance bin, one curve per run

Metrics come from :func:`lingbot_depth_ros.evaluation.metrics.depth_metrics`; a run's figure is
the mean of the per-frame values (the KITTI convention), ``n_valid`` is summed.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lingbot_depth_ros.colorize import colorize_depth
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.metrics import ERROR_KEYS, depth_metrics

# (title, key, format) of the summary table columns
TABLE_METRICS = (("RMSE [mm]", "rmse_mm", "{:.1f}"), ("MAE [mm]", "mae_mm", "{:.1f}"),
                 ("iRMSE [1/km]", "irmse_1_per_km", "{:.2f}"), ("iMAE [1/km]", "imae_1_per_km", "{:.2f}"),
                 ("AbsRel", "abs_rel", "{:.4f}"), ("δ1", "delta1", "{:.4f}"), ("coverage", "coverage", "{:.3f}"))
_RUN_COLOURS_BGR = ((40, 90, 230), (200, 120, 30), (60, 170, 60), (160, 60, 160), (30, 170, 200))


@dataclass
class FrameInputs:
    """What the bag gave for one frame: (H, W, 3) uint8 ``rgb``; (H, W) float32 ``sparse_depth_m`` and
    ``depth_gt_m`` [m] (0 = none) or None."""

    index: int
    stamp_ns: int
    rgb: np.ndarray
    sparse_depth_m: np.ndarray | None
    depth_gt_m: np.ndarray | None


@dataclass
class FrameOutcome:
    """One frame of one run: whether an output came back, its latency [ms], metrics (None if no GT) and
    the number of finite points of its cloud (None when clouds were not recorded or none came)."""

    index: int
    stamp_ns: int
    answered: bool
    latency_ms: float | None = None
    metrics: dict[str, float] | None = None
    cloud_points: int | None = None


@dataclass
class RunResult:
    """One replay of a bag into one node.

    ``predictions``: frame index -> (H, W) float32 depth [m] (NaN/0 = invalid) of the answered
    frames; ``first_send_s`` / ``last_receive_s``: monotonic times [s] bounding the run;
    ``settings``: how it ran (rate, estimator, topics...).
    """

    label: str
    outcomes: list[FrameOutcome]
    predictions: dict[int, np.ndarray] = field(default_factory=dict)
    first_send_s: float = 0.0
    last_receive_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts, latency statistics [ms], throughput [Hz] and mean metrics of the run."""
        sent = len(self.outcomes)
        answered = [o for o in self.outcomes if o.answered]
        latencies = [o.latency_ms for o in answered if o.latency_ms is not None]
        span = self.last_receive_s - self.first_send_s
        return {
            "label": self.label,
            "frames_sent": sent,
            "frames_answered": len(answered),
            "frames_dropped": sent - len(answered),
            "latency_ms": latency_stats(latencies),
            "throughput_hz": (len(answered) / span) if answered and span > 0 else 0.0,
            "metrics": mean_metrics([o.metrics for o in answered if o.metrics is not None]),
            "settings": self.settings,
        }


def latency_stats(latencies_ms: list[float]) -> dict[str, float | None]:
    """mean, min, p50, p90, p95, max of latencies [ms] (None values when the list is empty)."""
    keys = ("mean", "min", "p50", "p90", "p95", "max")
    if not latencies_ms:
        return {k: None for k in keys}
    values = np.asarray(latencies_ms, dtype=np.float64)
    return {"mean": float(values.mean()), "min": float(values.min()), "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)), "p95": float(np.percentile(values, 95)),
            "max": float(values.max())}


def mean_metrics(per_frame: list[dict[str, float]]) -> dict[str, float | None]:
    """Mean over frames of every metric (NaN frames skipped), ``n_valid`` summed; {} for no frames."""
    if not per_frame:
        return {}
    out: dict[str, float | None] = {}
    for key in per_frame[0]:
        values = np.array([m[key] for m in per_frame if key in m], dtype=np.float64)
        if key == "n_valid":
            out[key] = float(values.sum())
            continue
        finite = values[np.isfinite(values)]
        out[key] = float(finite.mean()) if finite.size else None
    out["n_frames"] = float(len(per_frame))
    return out


def score_frame(pred_m: np.ndarray, gt_m: np.ndarray | None, max_depth_m: float | None = None
                ) -> dict[str, float] | None:
    """:func:`depth_metrics` of one frame, or None when there is no (valid) ground truth."""
    if gt_m is None:
        return None
    if pred_m.shape != gt_m.shape:
        raise InputError(f"prediction {pred_m.shape} and ground truth {gt_m.shape} differ in size")
    try:
        return depth_metrics(pred_m, gt_m, max_depth_m=max_depth_m)
    except InputError:
        return None  # no valid ground-truth pixel in this frame


# ---------------------------------------------------------------------------------- error vs distance
def distance_edges(gts: list[np.ndarray], n_bins: int = 10) -> np.ndarray:
    """Bin edges [m] from 0 to a round number above the 99th percentile of the valid ground truth."""
    valid = [g[(g > 0) & np.isfinite(g)] for g in gts]
    values = np.concatenate(valid) if valid else np.zeros(0)
    if values.size == 0:
        return np.linspace(0.0, 10.0, n_bins + 1)
    top = float(np.percentile(values, 99.5))
    step = _nice_step(top / n_bins)
    return np.arange(0.0, step * (math.ceil(top / step) + 1) + 1e-9, step)


def error_by_distance(pairs: list[tuple[np.ndarray, np.ndarray]], edges: np.ndarray) -> dict[str, list[float | None]]:
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


def plot_error_vs_distance(curves: dict[str, dict[str, list[float | None]]], path: Path,
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
    y_values = [v for c in curves.values() for key in ("mae_m", "rmse_m") for v in c[key] if v is not None]
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
        for key, thickness in (("mae_m", 3), ("rmse_m", 1)):
            points = [to_px(float(x), float(v)) for x, v in zip(centres, curve[key]) if v is not None]
            if len(points) > 1:
                cv2.polylines(canvas, [np.array(points, np.int32)], False, colour, thickness, cv2.LINE_AA)
            for p in points:
                cv2.circle(canvas, p, 4 if thickness > 1 else 2, colour, -1, cv2.LINE_AA)
        legend_y = top + 20 + 22 * k
        cv2.line(canvas, (width - right - 220, legend_y), (width - right - 180, legend_y), colour, 3)
        cv2.putText(canvas, label, (width - right - 170, legend_y + 5), font, 0.55, black, 1, cv2.LINE_AA)
    return _write_png(path, canvas)


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
            _tile(sparse_tile, "sparse input", tile_width),
            _tile(pred_tile, f"{name} [{depth_range[0]:.1f}-{depth_range[1]:.1f} m]", tile_width),
            _tile(gt_tile, "ground truth", tile_width),
            _tile(err_tile, f"|error| 0-{e_max:.2f} m", tile_width)], axis=0 if wide else 1))
    return np.concatenate(rows, axis=1 if wide else 0)


def _write_png(path: Path, rgb: np.ndarray) -> Path:
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


# ---------------------------------------------------------------------------------- report
@dataclass
class ReportPaths:
    """Files written by :func:`write_report`."""

    json: Path
    markdown: Path
    html: Path
    plot: Path | None
    pictures: list[Path]


def _fmt(value: float | None, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and not math.isfinite(value)) else fmt.format(value)


def summary_table(summaries: list[dict[str, Any]]) -> str:
    """Markdown table: one row per run (frames, drops, latency, throughput, accuracy)."""
    head = ["run", "answered / sent", "dropped", "latency mean / p50 / p95 [ms]", "throughput [Hz]"]
    head += [title for title, _, _ in TABLE_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        lat = s["latency_ms"]
        row = [s["label"], f"{s['frames_answered']} / {s['frames_sent']}", str(s["frames_dropped"]),
               " / ".join(_fmt(lat[k], "{:.1f}") for k in ("mean", "p50", "p95")), _fmt(s["throughput_hz"], "{:.2f}")]
        row += [_fmt(s["metrics"].get(key), fmt) for _, key, fmt in TABLE_METRICS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_report(out_dir: str | Path, inputs: list[FrameInputs], runs: list[RunResult], *,
                 title: str = "lingbot_depth_ros replay evaluation", meta: dict[str, Any] | None = None,
                 max_pictures: int = 8, tile_width: int = 400) -> ReportPaths:
    """Write report.json, report.md, frame pictures and the error-vs-distance plot into ``out_dir``.

    Args:
        out_dir: folder (created).
        inputs: the bag's frames, in order (their ``index`` matches the runs' outcomes).
        runs: one result per run over the same frames.
        title: heading of the markdown summary.
        meta: extra figures for the JSON and the summary (bag path, command line...).
        max_pictures: at most this many frame pictures (evenly spaced frames).
        tile_width: width of one picture tile [px].
    """
    if not runs:
        raise InputError("no runs to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_index = {f.index: f for f in inputs}
    summaries = [run.summary() for run in runs]

    gts = [f.depth_gt_m for f in inputs if f.depth_gt_m is not None]
    curves: dict[str, dict[str, list[float | None]]] = {}
    plot_path: Path | None = None
    if gts:
        edges = distance_edges(gts)
        for run in runs:
            pairs = [(pred, by_index[i].depth_gt_m) for i, pred in run.predictions.items()
                     if i in by_index and by_index[i].depth_gt_m is not None]
            curves[run.label] = error_by_distance(pairs, edges)
        if any(any(c > 0 for c in curve["count"]) for curve in curves.values()):
            plot_path = plot_error_vs_distance(curves, out / "error_vs_distance.png")

    pictures = []
    for position in picture_indices(len(inputs), max_pictures):
        frame = inputs[position]
        panel = frame_panel(frame, [(run.label, run.predictions.get(frame.index)) for run in runs], tile_width)
        pictures.append(_write_png(out / "frames" / f"frame_{frame.index:04d}.png", panel))

    document = {
        "title": title,
        "meta": meta or {},
        "runs": summaries,
        "error_vs_distance": curves,
        "frames": {run.label: [{"index": o.index, "stamp_ns": o.stamp_ns, "answered": o.answered,
                                "latency_ms": o.latency_ms, "metrics": o.metrics, "cloud_points": o.cloud_points}
                               for o in run.outcomes]
                   for run in runs},
        "metric_keys": list(ERROR_KEYS) + ["n_valid", "coverage"],
        "pictures": [p.relative_to(out).as_posix() for p in pictures],
        "plot": plot_path.relative_to(out).as_posix() if plot_path else None,
    }
    json_path = out / "report.json"
    json_path.write_text(json.dumps(_finite(document), indent=2, allow_nan=False, default=_json_default))

    lines = [f"# {title}", ""]
    for key, value in (meta or {}).items():
        lines.append(f"- **{key}**: {value}")
    lines += ["", "## Summary", "", summary_table(summaries), "",
              "Latency: input image published -> depth received, per frame. Dropped: frames sent that never "
              "got an output. Accuracy: mean of per-frame metrics over answered frames "
              "(RMSE/MAE in mm, iRMSE/iMAE in 1/km, δ1 = share of pixels within 25 %)."]
    if curves:
        lines += ["", "## Error vs distance (MAE / RMSE [m], pixels)", ""]
        edges = next(iter(curves.values()))["edges_m"]
        header = ["distance [m]"] + [f"{label} MAE / RMSE" for label in curves] + ["GT pixels"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for b in range(len(edges) - 1):
            row = [f"{edges[b]:g}-{edges[b + 1]:g}"]
            row += [f"{_fmt(c['mae_m'][b], '{:.3f}')} / {_fmt(c['rmse_m'][b], '{:.3f}')}" for c in curves.values()]
            row.append(str(next(iter(curves.values()))["gt_count"][b]))
            lines.append("| " + " | ".join(row) + " |")
        if plot_path:
            lines += ["", f"![error vs distance]({plot_path.relative_to(out).as_posix()})"]
    if pictures:
        lines += ["", "## Frames", "", "RGB | sparse input | prediction | ground truth | absolute error "
                  "(one row per run)", ""]
        lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in pictures]
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines) + "\n")
    html_path = out / "report.html"
    html_path.write_text(markdown_to_html(lines, title))
    return ReportPaths(json=json_path, markdown=md_path, html=html_path, plot=plot_path, pictures=pictures)


def markdown_to_html(lines: list[str], title: str) -> str:
    """The small markdown subset the report uses (headings, bullets, tables, images, text) as one HTML page."""
    body: list[str] = []
    in_list = False
    table: list[list[str]] = []

    def inline(text: str) -> str:
        escaped = html.escape(text)
        return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)

    def flush_table() -> None:
        if table:
            head, rows = table[0], table[1:]
            body.append("<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>")
            body.extend("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in rows)
            body.append("</table>")
            table.clear()

    for line in "\n".join(lines).splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        flush_table()
        if line.startswith("- ") != in_list:
            body.append("<ul>" if not in_list else "</ul>")
            in_list = not in_list
        if line.startswith("## "):
            body.append(f"<h2>{inline(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{inline(line[2:])}</h1>")
        elif line.startswith("- "):
            body.append(f"<li>{inline(line[2:])}</li>")
        elif match := re.fullmatch(r"!\[(.*)\]\((.*)\)", line):
            body.append(f'<p><img src="{html.escape(match.group(2))}" alt="{html.escape(match.group(1))}" '
                        'style="max-width:100%"></p>')
        elif line:
            body.append(f"<p>{inline(line)}</p>")
    flush_table()
    if in_list:
        body.append("</ul>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _finite(value: Any) -> Any:
    """Replace NaN/inf floats by None, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")

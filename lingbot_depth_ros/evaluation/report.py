"""Evaluation report: figures (JSON), a markdown summary and pictures. No rclpy.

The replay tool fills :class:`~lingbot_depth_ros.evaluation.frames.RunResult` objects (one per
estimator run over the same bag) and the bag's :class:`~lingbot_depth_ros.evaluation.frames.FrameInputs`;
:func:`write_report` then writes into one folder:

* ``report.json``   every figure: per-frame metrics and latency, run summaries, error vs distance;
  ``metrics`` = on the pixels the prediction covered, ``metrics_all`` = on all valid ground-truth
  pixels (uncovered ones filled with the nearest predicted depth)
* ``report.md``     the summary table, both accuracy tables, error-vs-distance table and links to the pictures
* ``report.html``   the same as one HTML page
* ``frames/frame_NNNN.png``  RGB | sparse input | prediction | ground truth | |error| side by side,
  one row per run (a subset of frames, evenly spaced)
* ``error_vs_distance.png``  MAE and RMSE per ground-truth distance bin, one curve per run

Metrics come from :func:`lingbot_depth_ros.evaluation.metrics.depth_metrics`; a run's figure is
the mean of the per-frame values (the KITTI convention), ``n_valid`` is summed. Figures and
pictures: :mod:`lingbot_depth_ros.evaluation.report_figures`.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.frames import FrameInputs, RunResult
from lingbot_depth_ros.evaluation.metrics import ERROR_KEYS
from lingbot_depth_ros.evaluation.report_figures import (
    DistanceErrors,
    distance_edges,
    error_by_distance,
    frame_panel,
    picture_indices,
    plot_error_vs_distance,
    write_png,
)
from lingbot_depth_ros.evaluation.temporal_metrics import TemporalMetrics

# (title, key, format) of the accuracy table columns
TABLE_METRICS = (("RMSE [mm]", "rmse_mm", "{:.1f}"), ("MAE [mm]", "mae_mm", "{:.1f}"),
                 ("iRMSE [1/km]", "irmse_1_per_km", "{:.2f}"), ("iMAE [1/km]", "imae_1_per_km", "{:.2f}"),
                 ("AbsRel", "abs_rel", "{:.4f}"), ("δ1", "delta1", "{:.4f}"), ("coverage", "coverage", "{:.3f}"))
#: (summary key, heading, explanation) of the two pixel sets every run is scored on
PIXEL_SETS = (("metrics", "Accuracy on covered pixels",
               "errors on the valid ground-truth pixels where the prediction is valid; coverage = their share"),
              ("metrics_all", "Accuracy on all valid ground-truth pixels",
               "every valid ground-truth pixel scored; where the prediction is invalid, the nearest valid "
               "predicted depth stands in"))


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
    """Markdown table: one row per run (frames, drops, latency, throughput, coverage, RMSE on both pixel sets)."""
    head = ["run", "answered / sent", "dropped", "latency mean / p50 / p95 [ms]", "throughput [Hz]", "coverage",
            "RMSE covered px [mm]", "RMSE all GT px [mm]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        lat = s["latency_ms"]
        row = [s["label"], f"{s['frames_answered']} / {s['frames_sent']}", str(s["frames_dropped"]),
               " / ".join(_fmt(lat[k], "{:.1f}") for k in ("mean", "p50", "p95")), _fmt(s["throughput_hz"], "{:.2f}"),
               _fmt(s["metrics"].get("coverage"), "{:.3f}"), _fmt(s["metrics"].get("rmse_mm"), "{:.1f}"),
               _fmt(s.get("metrics_all", {}).get("rmse_mm"), "{:.1f}")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def accuracy_table(summaries: list[dict[str, Any]], key: str = "metrics") -> str:
    """Markdown table of the mean metrics ``summaries[i][key]`` (``metrics`` or ``metrics_all``), one row per run."""
    head = ["run"] + [title for title, _, _ in TABLE_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        metrics = s.get(key) or {}
        lines.append("| " + " | ".join([s["label"]] + [_fmt(metrics.get(k), fmt) for _, k, fmt in TABLE_METRICS])
                     + " |")
    return "\n".join(lines)


TEMPORAL_EXPLANATION = (
    "Temporal consistency error: each frame's depth warped into the next answered frame with the camera motion (the "
    "sequence's poses, the bag's ground-truth poses in an evaluation; none: a standing camera), compared with that "
    "frame's depth on pixels valid in both (points the ground truth shows moving left out). Flicker: per-pixel "
    "standard deviation of the depth over the frames of each standing-camera segment (>= 3 frames).")


def run_temporal_metrics(run: RunResult, inputs: list[FrameInputs]) -> dict[str, Any]:
    """Temporal metrics (:mod:`~lingbot_depth_ros.evaluation.temporal_metrics`) of a run's answered frames in
    order, with the frames' poses when every frame has one (else a standing camera), and ``poses`` saying which."""
    posed = bool(inputs) and all(f.camera_pose is not None for f in inputs)
    metrics = TemporalMetrics(posed=posed)
    for frame in sorted(inputs, key=lambda f: f.index):
        depth = run.predictions.get(frame.index)
        if depth is None or frame.intrinsics is None:
            continue
        metrics.add(frame.index, depth, frame.intrinsics, frame.camera_pose, frame.depth_gt_m)
    return {**metrics.summary(), "poses": "ground truth" if posed else "none (a standing camera assumed)"}


def temporal_table(rows: list[tuple[str, dict[str, Any]]], first_column: str = "run") -> str:
    """Markdown table of temporal metrics: (label, :func:`merge_parts
    <lingbot_depth_ros.evaluation.temporal_metrics.merge_parts>` figures + ``poses`` and optional ``resets``)."""
    lines = [f"| {first_column} | poses | consistency error [mm] | consistency error [%] | pairs | flicker [mm] | "
             "standing frames | temporal resets |", "|---|---|---|---|---|---|---|---|"]
    for label, t in rows:
        error, rel, flicker = (t.get(k) for k in ("consistency_error_m", "consistency_rel", "flicker_m"))
        resets = ", ".join(f"{k}: {n}" for k, n in sorted(t.get("resets", {}).items())) or "none"
        lines.append(f"| {label} | {t.get('poses', '')} | {_fmt(None if error is None else error * 1e3, '{:.1f}')} | "
                     f"{_fmt(None if rel is None else rel * 100.0, '{:.2f}')} | {t.get('consistency_pairs', 0)} | "
                     f"{_fmt(None if flicker is None else flicker * 1e3, '{:.1f}')} | {t.get('standing_frames', 0)} | "
                     f"{resets if 'resets' in t else '—'} |")
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
    for run, summary in zip(runs, summaries):
        summary["temporal"] = run_temporal_metrics(run, inputs)

    gts = [f.depth_gt_m for f in inputs if f.depth_gt_m is not None]
    curves: dict[str, DistanceErrors] = {}
    plot_path: Path | None = None
    if gts:
        edges = distance_edges(gts)
        for run in runs:
            pairs = [(pred, gt) for i, pred in run.predictions.items()
                     if i in by_index and (gt := by_index[i].depth_gt_m) is not None]
            curves[run.label] = error_by_distance(pairs, edges)
        if any(any(c > 0 for c in curve["count"]) for curve in curves.values()):
            plot_path = plot_error_vs_distance(curves, out / "error_vs_distance.png")

    pictures = []
    for position in picture_indices(len(inputs), max_pictures):
        frame = inputs[position]
        panel = frame_panel(frame, [(run.label, run.predictions.get(frame.index)) for run in runs], tile_width)
        pictures.append(write_png(out / "frames" / f"frame_{frame.index:04d}.png", panel))

    document = {
        "title": title,
        "meta": meta or {},
        "runs": summaries,
        "error_vs_distance": curves,
        "frames": {run.label: [{"index": o.index, "stamp_ns": o.stamp_ns, "answered": o.answered,
                                "latency_ms": o.latency_ms, "metrics": o.metrics, "metrics_all": o.metrics_all,
                                "cloud_points": o.cloud_points}
                               for o in run.outcomes]
                   for run in runs},
        "metric_keys": list(ERROR_KEYS) + ["n_valid", "coverage"],
        "pixel_sets": {key: f"{heading}: {text}" for key, heading, text in PIXEL_SETS},
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
              "(RMSE/MAE in mm, iRMSE/iMAE in 1/km, δ1 = share of pixels within 25 %), on two pixel sets:"]
    for key, heading, text in PIXEL_SETS:
        lines += ["", f"## {heading}", "", f"{heading[0].upper()}{heading[1:]}: {text}.", "",
                  accuracy_table(summaries, key)]
    lines += ["", "## Temporal", "", TEMPORAL_EXPLANATION, "",
              temporal_table([(s["label"], s["temporal"]) for s in summaries])]
    if curves:
        lines += ["", "## Error vs distance (MAE / RMSE [m], pixels)", ""]
        edges_m = next(iter(curves.values()))["edges_m"]
        header = ["distance [m]"] + [f"{label} MAE / RMSE" for label in curves] + ["GT pixels"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for b in range(len(edges_m) - 1):
            row = [f"{edges_m[b]:g}-{edges_m[b + 1]:g}"]
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

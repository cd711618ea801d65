"""The batch report: per input and overall accuracy (covered pixels and all valid-GT pixels, KITTI and NYU
metric sets), temporal metrics (consistency error and flicker, :mod:`lingbot_depth_ros.evaluation.temporal_metrics`,
with the temporal stage's resets), frame counts, throughput and per-worker utilisation, as report.json / report.md /
report.html in ``--out`` (the replay tool's style). No Ray, no rclpy.

Every frame is counted once: results are keyed by unit and a unit's frames by index, so a unit that
was retried after a worker died, or finished in an earlier (resumed) run, contributes its frames once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from lingbot_depth_ros.batch.runner import RunOutcome
from lingbot_depth_ros.evaluation.frames import mean_metrics
from lingbot_depth_ros.evaluation.report import (
    PIXEL_SETS,
    TEMPORAL_EXPLANATION,
    _finite,
    _fmt,
    _json_default,
    accuracy_table,
    markdown_to_html,
    temporal_table,
)
from lingbot_depth_ros.evaluation.temporal_metrics import merge_parts


class InputSummary(TypedDict):
    """One input in report.json ``inputs``."""

    label: str
    path: str
    kind: str
    status: str  # ok | empty | incomplete | failed
    error: str | None
    failed_units: list[str]  # "<unit key>: <reason>"
    frames: int
    frames_ok: int
    frames_dropped: int
    drop_reasons: list[str]
    metrics: dict[str, float | None]  # mean over the estimated frames (covered pixels); {} for none
    metrics_all: dict[str, float | None]  # the same over all valid-GT pixels
    temporal: dict[str, Any]  # temporal metrics (merge_parts), resets by reason, announcements, poses


#: announcements of temporal resets listed per input in report.md (all of them are in report.json)
MAX_LISTED_RESETS = 10


def _temporal(results: list[Any], prefix: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the temporal summary of one input's unit results, their metric parts with segment keys under
    ``prefix``)."""
    parts: list[dict[str, Any]] = []
    resets: dict[str, int] = {}
    announcements: list[str] = []
    posed = sequence = False
    measured = bool(results) and all((r.temporal or {}).get("measured", True) for r in results)
    for result in sorted(results, key=lambda r: r.start):
        t = result.temporal or {}
        if t.get("metrics"):
            part = dict(t["metrics"])
            part["segments"] = {f"{prefix}{k}": v for k, v in dict(part.get("segments", {})).items()}
            parts.append(part)
        for reason, count in dict(t.get("resets", {})).items():
            resets[reason] = resets.get(reason, 0) + int(count)
        announcements.extend(t.get("announcements", []))
        posed = posed or bool(t.get("posed"))
        sequence = sequence or bool(t.get("sequence", True))
    summary: dict[str, Any] = dict(merge_parts(parts))
    poses = "yes" if posed else ("none (a standing camera assumed)" if sequence else
                                 "none (single frames: not measured)")
    if not measured:
        poses = "not measured (--temporal-metrics off)"
    summary.update(poses=poses, resets=resets, announcements=announcements)
    return summary, parts


def summarize(outcome: RunOutcome) -> dict[str, Any]:
    """Per input and overall counts, metrics, throughput; per worker load. JSON-ready (NaN -> None)."""
    frames_by_input: dict[str, dict[int, dict[str, Any]]] = {i: {} for i in outcome.input_ids}
    for result in outcome.results:
        for record in result.frames:
            frames_by_input.setdefault(result.input_id, {})[int(record["index"])] = record
    failed_units_by_input: dict[str, list[str]] = {}
    for key, reason in outcome.unit_errors.items():
        failed_units_by_input.setdefault(key.rsplit(":", 1)[0], []).append(f"{key}: {reason}")
    inputs: list[InputSummary] = []
    all_ok: list[dict[str, Any]] = []
    all_parts: list[dict[str, Any]] = []
    results_by_input: dict[str, list[Any]] = {}
    for result in outcome.results:
        results_by_input.setdefault(result.input_id, []).append(result)
    for input_id, path in outcome.input_ids.items():
        temporal, parts = _temporal(results_by_input.get(input_id, []), prefix=f"{input_id}:")
        all_parts.extend(parts)
        records = [frames_by_input[input_id][i] for i in sorted(frames_by_input.get(input_id, {}))]
        ok = [r for r in records if r["status"] == "ok"]
        all_ok.extend(ok)
        status = "failed" if input_id in outcome.input_errors else (
            "incomplete" if input_id in failed_units_by_input else ("empty" if not records else "ok"))
        inputs.append({
            "label": input_id, "path": path, "kind": outcome.kinds.get(input_id, "?"), "status": status,
            "error": outcome.input_errors.get(input_id), "failed_units": failed_units_by_input.get(input_id, []),
            "frames": len(records), "frames_ok": len(ok), "frames_dropped": len(records) - len(ok),
            "drop_reasons": sorted({r.get("reason", "") for r in records if r["status"] != "ok"}),
            "metrics": mean_metrics([r["metrics"] for r in ok if r.get("metrics")]),
            "metrics_all": mean_metrics([r["metrics_all"] for r in ok if r.get("metrics_all")]),
            "temporal": temporal,
        })
    new_frames = sum(w["frames"] for w in outcome.workers.values())
    busy = sum(w["busy_s"] for w in outcome.workers.values())
    overall = {
        "label": "all inputs", "frames": sum(i["frames"] for i in inputs), "frames_ok": len(all_ok),
        "frames_dropped": sum(i["frames_dropped"] for i in inputs),
        "metrics": mean_metrics([r["metrics"] for r in all_ok if r.get("metrics")]),
        "metrics_all": mean_metrics([r["metrics_all"] for r in all_ok if r.get("metrics_all")]),
        "temporal": {**merge_parts(all_parts),
                     "resets": {k: sum(i["temporal"]["resets"].get(k, 0) for i in inputs)
                                for k in sorted({k for i in inputs for k in i["temporal"]["resets"]})}},
        "frames_this_run": new_frames, "wall_s": outcome.wall_s,
        "throughput_fps": new_frames / outcome.wall_s if outcome.wall_s > 0 and new_frames else 0.0,
        "worker_ms_per_frame": 1000.0 * busy / new_frames if new_frames else None,
        "resumed_units": outcome.resumed_units, "retried_units": outcome.retried_units,
        "failed_units": len(outcome.unit_errors), "failed_inputs": len(outcome.input_errors),
    }
    return _finite({"overall": overall, "inputs": inputs, "workers": outcome.workers})


def markdown_lines(summary: dict[str, Any]) -> list[str]:
    o = summary["overall"]
    lines = ["# Batch depth report", "",
             f"- frames: {o['frames']} ({o['frames_ok']} estimated, {o['frames_dropped']} dropped as the node "
             f"would drop them); this run: {o['frames_this_run']} frames in {o['wall_s']:.1f} s = "
             f"{o['throughput_fps']:.2f} frames/s, {_fmt(o['worker_ms_per_frame'], '{:.1f}')} ms per frame per worker",
             f"- units resumed from an earlier run: {o['resumed_units']}; retried after a worker died: "
             f"{o['retried_units']}; failed: {o['failed_units']}; inputs that failed: {o['failed_inputs']}", "",
             "## Inputs", "", "| input | kind | status | frames | estimated | dropped |", "|---|---|---|---|---|---|"]
    for i in summary["inputs"]:
        lines.append(f"| {i['label']} | {i['kind']} | {i['status']} | {i['frames']} | {i['frames_ok']} | "
                     f"{i['frames_dropped']} |")
    problems = [(i["label"], i["error"]) for i in summary["inputs"] if i["error"]] + \
        [(i["label"], reason) for i in summary["inputs"] for reason in i["failed_units"] + i["drop_reasons"]]
    if problems:
        lines += ["", "## Problems", ""] + [f"- {label}: {reason}" for label, reason in problems]
    rows = [i for i in summary["inputs"] if i["metrics"]] + ([o] if o["metrics"] else [])
    for key, heading, explanation in PIXEL_SETS:
        if rows:
            lines += ["", f"## {heading}", "", explanation, "", accuracy_table(rows, key)]
    lines += temporal_lines(summary)
    lines += ["", "## Workers", "", "| worker | units | frames | busy [s] | waiting for input [s] | utilisation |",
              "|---|---|---|---|---|---|"]
    for name, w in sorted(summary["workers"].items()):
        lines.append(f"| {name} | {w['units']} | {w['frames']} | {w['busy_s']:.2f} | {w['read_wait_s']:.2f} | "
                     f"{w['utilisation']:.2f} |")
    return lines


def temporal_lines(summary: dict[str, Any]) -> list[str]:
    """The report's "Temporal" section: consistency error and flicker per input and overall, and the resets."""
    rows = [(i["label"], i["temporal"]) for i in summary["inputs"] if i.get("temporal")]
    if not rows:
        return []
    overall = summary["overall"].get("temporal")
    if overall and len(rows) > 1:
        rows.append(("all inputs", {**overall, "poses": ""}))
    lines = ["", "## Temporal", "", TEMPORAL_EXPLANATION + " Without the temporal stage an input's units may run on "
             "several workers: pairs across unit borders are then not measured (pairs).", "",
             temporal_table(rows, "input")]
    listed = [(label, text) for label, t in rows for text in t.get("announcements", [])[:MAX_LISTED_RESETS]]
    if listed:
        lines += ["", "Temporal resets (each run of resets of one reason, once):", ""]
        lines += [f"- {label}: {text}" for label, text in listed]
    return lines


def write_report(out_dir: str | Path, outcome: RunOutcome) -> dict[str, Any]:
    """Write report.json, report.md and report.html into ``out_dir``; returns the summary."""
    out = Path(out_dir)
    summary = summarize(outcome)
    (out / "report.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    lines = markdown_lines(summary)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "report.html").write_text(markdown_to_html(lines, "Batch depth report"))
    return summary

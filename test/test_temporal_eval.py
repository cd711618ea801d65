"""``lingbot-depth-eval`` with the temporal filter in the node it starts (issue 21): real node, real topics, a
scene bag; the report's temporal metrics (the bag's ground-truth poses) beside accuracy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lingbot_depth_ros.bags.datasets import write_scene_bag

pytestmark = pytest.mark.ros


def test_eval_reports_lower_consistency_error_for_a_node_with_the_filter(tmp_path: Path) -> None:
    bag = tmp_path / "scene"
    write_scene_bag(bag, 8, width=160, height=120, seed=1, lidar_beams=16, lidar_points=False)
    figures = {}
    for name, extra in (("plain", []), ("filtered", ["--node-param", "temporal.enabled:=true"])):
        result = subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.eval", str(bag), "--out",
                                 str(tmp_path / name), "--start-node", "--rate", "max", "--no-progress", *extra],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        run = json.loads((tmp_path / name / "report.json").read_text())["runs"][0]
        assert run["frames_answered"] == 8
        figures[name] = run["temporal"]
        assert "## Temporal" in (tmp_path / name / "report.md").read_text()
    plain, filtered = figures["plain"], figures["filtered"]
    assert plain["poses"] == filtered["poses"] == "ground truth"
    assert plain["consistency_pairs"] == filtered["consistency_pairs"] == 7
    # measured: 36.2 -> 22.4 mm (classical, 160x120, the node's filter with pose_source none)
    assert filtered["consistency_error_m"] < 0.9 * plain["consistency_error_m"]

"""``lingbot-demo --fusion`` (make demo DEMO_ARGS=--fusion): the node's depth fused at the scene's poses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lingbot_depth_ros.io.ply import read_ply

pytestmark = pytest.mark.ros


def test_demo_fusion_writes_map_mesh_surfaces_and_picture(tmp_path: Path) -> None:
    out = tmp_path / "demo_output"
    result = subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.demo", "--out", str(out), "--frames", "8",
                             "--width", "320", "--height", "240", "--rate", "max", "--no-compare", "--fusion"],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"p95 (\d+) mm \(([\d.]+) voxels\), completeness ([\d.]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(2)) <= 2.0 and float(match.group(3)) >= 0.9, result.stdout
    xyz, rgb = read_ply(out / "fused.ply")
    assert len(xyz) > 2000 and rgb is not None
    assert b"element face" in (out / "mesh.ply").read_bytes()[:400]
    summary = json.loads((out / "fusion.json").read_text())
    assert summary["frames"] == 8 and summary["score"]["accuracy_p95_voxels"] <= 2.0
    from lingbot_depth_ros.surfaces import schema_errors

    # The surfaces of the fused map, in its frame: the procedural room's floor (z = 0, >= 4 m^2 seen).
    surfaces = json.loads((out / "surfaces.json").read_text())
    assert schema_errors(surfaces) == [] and surfaces["frame_id"] == "map"
    floors = [s for s in surfaces["surfaces"] if s["kind"] == "floor"]
    assert floors and max(s["area_m2"] for s in floors) >= 4.0, surfaces["surfaces"]
    assert all(abs(s["centroid"][2]) < 0.05 and s["tilt_deg"] < 2.0 for s in floors), floors
    assert summary["surfaces"] == len(surfaces["surfaces"])
    assert (out / "fused_map.png").stat().st_size > 5000

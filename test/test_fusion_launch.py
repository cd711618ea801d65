"""launch/fusion.launch.py and ``fusion:=true`` of lingbot_depth.launch.py (launch stand-ins of test_launch),
and the fusion node's launch-argument logic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_launch import launch_run  # noqa: F401 - the fixture

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.params.fusion import PARAMS_BY_NAME, launch_parameters, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def _console_scripts() -> dict[str, str]:
    return dict(re.findall(r'"([\w-]+) = ([\w.]+:\w+)"', (ROOT / "setup.py").read_text()))


def test_launch_parameters_validate_and_map_arguments() -> None:
    got = launch_parameters({"pose_source": "odometry", "voxel_size_m": "0.02", "map_frame": ""}, ["/front", "/rear"])
    assert got == {"cameras": ["/front", "/rear"], "fusion.pose_source": "odometry", "fusion.voxel_size_m": 0.02}
    with pytest.raises(ConfigError, match="pose_source"):
        launch_parameters({"pose_source": "gps"}, [])
    with pytest.raises(ConfigError, match="voxel_size_m"):
        launch_parameters({"voxel_size_m": "fine"}, [])
    with pytest.raises(ConfigError, match="device"):
        launch_parameters({"device": "TPU"}, [])
    assert "| `fusion.pose_source` | `pose` |" in markdown_table()


def test_fusion_launch_file_starts_the_fusion_node(launch_run) -> None:  # noqa: F811
    run = launch_run("fusion.launch.py")
    assert run.arguments["cameras"] == "/camera"
    (node,) = run.execute(cameras="/front,/rear", pose_source="none", voxel_size_m="0.05")
    assert node.kwargs["executable"] == "depth_fusion_node" and node.kwargs["executable"] in _console_scripts()
    assert _console_scripts()["depth_fusion_node"] == "lingbot_depth_ros.ros.fusion_node:main"
    overrides = node.kwargs["parameters"][-1]
    assert overrides == {"cameras": ["/front", "/rear"], "fusion.pose_source": "none", "fusion.voxel_size_m": 0.05,
                         "use_sim_time": False}
    assert set(overrides) - {"use_sim_time"} <= set(PARAMS_BY_NAME)
    with pytest.raises(ConfigError, match="pose_source"):
        run.execute(pose_source="gps")


def test_main_launch_fusion_true_adds_the_fusion_node(launch_run) -> None:  # noqa: F811
    run = launch_run("lingbot_depth.launch.py")
    assert run.arguments["fusion"] == "false"
    assert [n.kwargs["executable"] for n in run.execute()] == ["depth_node"]
    depth, fusion = run.execute(namespace="/robot1", fusion="true", fusion_pose_source="odometry")
    assert fusion.kwargs["executable"] == "depth_fusion_node" and fusion.kwargs["namespace"] == "robot1"
    assert fusion.kwargs["parameters"][-1]["cameras"] == ["/robot1"]
    assert fusion.kwargs["parameters"][-1]["fusion.pose_source"] == "odometry"


def test_docs_fusion_parameter_table_is_in_sync() -> None:
    """The table of docs/fusion.md (moved there from the README) is the one fusion_params renders."""
    assert markdown_table() in (ROOT / "docs" / "fusion.md").read_text()

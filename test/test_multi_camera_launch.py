"""multi_camera.launch.py single_process:=true: one node (one estimator) for both cameras, on exactly the
topics the one-node-per-camera mode uses (issue 15 §4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_launch import _launched_nodes, _node_topics, _rviz_topics, launch_run  # noqa: F401 (fixture)

from lingbot_depth_ros.deploy.launch_config import single_process_setup
from lingbot_depth_ros.errors import ConfigError

ARGS = {"front_image": "/front_camera/image_raw", "rear_sparse_depth": "lidar/depth", "use_rviz": "true"}


def test_single_process_is_one_node_with_cameras_and_namespaced_remaps(launch_run) -> None:  # noqa: F811 - fixture
    run = launch_run("multi_camera.launch.py")
    assert run.arguments["single_process"] == "false"
    actions = run.execute(single_process="true", estimator="classical", **ARGS)
    (node,) = [a for a in actions if a.kwargs["executable"] == "depth_node"]
    assert node.kwargs["namespace"] == ""
    overrides = node.kwargs["parameters"][-1]
    assert overrides["cameras"] == ["front", "rear"] and overrides["estimator"] == "classical"
    # absolute targets stay, relative ones are resolved in the camera's namespace as a per-camera node would
    assert node.kwargs["remappings"] == [("front/image", "/front_camera/image_raw"),
                                         ("rear/sparse_depth", "rear/lidar/depth")]
    with pytest.raises(RuntimeError, match="single_process"):
        run.execute(single_process="yes")
    with pytest.raises(ConfigError, match="namespace"):
        single_process_setup([])


@pytest.mark.ros
def test_single_process_uses_the_topics_of_the_per_camera_nodes(launch_run) -> None:  # noqa: F811 - the fixture
    run = launch_run("multi_camera.launch.py")
    per_camera = [a for a in run.execute(**ARGS) if a.kwargs["executable"] == "depth_node"]
    actions = run.execute(single_process="true", **ARGS)
    single = [a for a in actions if a.kwargs["executable"] == "depth_node"]
    (rviz,) = [a for a in actions if a.kwargs["executable"] == "rviz2"]
    with _launched_nodes(per_camera) as started:
        expected = set().union(*(_node_topics(n) for n in started))
    with _launched_nodes(single) as (node,):
        assert [c.camera for c in node.channels] == ["front", "rear"]
        graph = _node_topics(node)
    assert graph == expected, (graph ^ expected)
    assert {"/front_camera/image_raw", "/rear/lidar/depth", "/front/depth/image", "/rear/points"} <= graph
    config = yaml.safe_load(Path(rviz.kwargs["arguments"][1]).read_text())
    assert not _rviz_topics(config) - graph

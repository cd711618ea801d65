"""The managed node in the launch files (launch stand-ins of test_launch): ``lifecycle:=true`` / ``autostart`` of
lingbot_depth.launch.py and multi_camera.launch.py, and managed_depth.launch.py with Nav2's lifecycle manager;
then the manager's view of the node checked against the real node: the parameters the launch gives it, driven
through the service names the manager resolves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lifecycle_client import ACTIVATE, CONFIGURE, LifecycleClient
from ros_harness import NodeProcess, RosHarness
from test_launch import _check_node_actions, launch_run  # noqa: F401 - the fixture

from lingbot_depth_ros.deploy.launch_config import parameter_overrides
from lingbot_depth_ros.deploy.lifecycle_launch import BOND_TIMEOUT_S, MANAGER_PACKAGE, managed_launch
from lingbot_depth_ros.errors import ConfigError

MANAGED = "managed_depth.launch.py"


def test_lifecycle_and_autostart_arguments_reach_the_node(launch_run) -> None:  # noqa: F811
    run = launch_run("lingbot_depth.launch.py")
    assert run.arguments["lifecycle"] == "" and run.arguments["autostart"] == ""  # empty: params_file decides
    (node,) = run.execute()
    assert "lifecycle" not in node.kwargs["parameters"][-1]
    (node,) = run.execute(lifecycle="true", autostart="true", estimator="classical")
    _check_node_actions([node])
    assert node.kwargs["parameters"][-1] == {"lifecycle": True, "autostart": True, "estimator": "classical",
                                             "use_sim_time": False}
    with pytest.raises(ConfigError, match="lifecycle must be true or false"):
        run.execute(lifecycle="yes")

    multi = launch_run("multi_camera.launch.py")
    nodes = multi.execute(lifecycle="true")
    assert len(nodes) == 2 and all(n.kwargs["parameters"][-1]["lifecycle"] is True for n in nodes)
    (single,) = multi.execute(lifecycle="true", single_process="true")
    assert single.kwargs["parameters"][-1]["lifecycle"] is True and single.kwargs["parameters"][-1]["cameras"]


def test_managed_launch_starts_the_node_and_nav2s_lifecycle_manager_without_bonds(launch_run) -> None:  # noqa: F811
    run = launch_run(MANAGED)
    assert run.arguments["autostart"] == "true" and "lifecycle" not in run.arguments
    node, manager = run.execute(namespace="/robot1", estimator="classical")
    _check_node_actions([node])
    assert node.kwargs["namespace"] == "robot1"
    assert node.kwargs["parameters"][-1] == {"estimator": "classical", "use_sim_time": False, "lifecycle": True,
                                             "autostart": False}  # the manager drives it
    assert (manager.kwargs["package"], manager.kwargs["executable"]) == (MANAGER_PACKAGE, "lifecycle_manager")
    assert manager.kwargs["namespace"] == "robot1"  # node_names resolve in its namespace
    assert manager.kwargs["parameters"] == [{"node_names": ["lingbot_depth_node"], "autostart": True,
                                             "bond_timeout": 0.0, "use_sim_time": False}]
    assert run.warnings == []
    (_, manager) = run.execute(autostart="false")
    assert manager.kwargs["parameters"][0]["autostart"] is False
    with pytest.raises(ConfigError, match="autostart must be true or false"):
        run.execute(autostart="on")


def test_without_nav2_the_managed_node_starts_itself_with_one_warning(launch_run) -> None:  # noqa: F811
    run = launch_run(MANAGED, missing=(MANAGER_PACKAGE,))
    (node,) = run.execute(estimator="classical")
    assert node.kwargs["parameters"][-1]["lifecycle"] is True and node.kwargs["parameters"][-1]["autostart"] is True
    assert len(run.warnings) == 1 and "nav2_lifecycle_manager is not installed" in run.warnings[0]
    (node,) = run.execute(estimator="classical", autostart="false")
    assert node.kwargs["parameters"][-1]["autostart"] is False and "stays unconfigured" in run.warnings[-1]


def _installed(package: str) -> str:
    return "/opt/share"


@pytest.mark.ros
def test_the_managers_service_names_reach_the_launched_node(tmp_path: Path) -> None:
    """The node started with the parameters and namespace the managed launch gives it; configure and activate
    through ``<namespace>/<node_names[0]>/change_state``, the names the lifecycle manager (in that namespace)
    resolves. Bonds off: nothing else is asked of the node."""
    launch = managed_launch({"namespace": "robot1", "estimator": "classical", "mode": "completion"}, _installed)
    assert launch.manager_parameters is not None and launch.manager_parameters["bond_timeout"] == BOND_TIMEOUT_S
    params: dict[str, Any] = dict(launch.node.parameters[-1])
    with NodeProcess(params, log_path=tmp_path / "node.log", namespace="/" + launch.node.namespace) as node:
        node.wait_ready()
        harness = RosHarness(namespace=launch.node.namespace)
        try:
            (managed,) = launch.manager_parameters["node_names"]
            lifecycle = LifecycleClient(harness.node, f"/{launch.node.namespace}/{managed}")
            assert lifecycle.state() == "unconfigured"  # autostart false: waits for the manager
            assert lifecycle.change(CONFIGURE) and lifecycle.change(ACTIVATE)
            assert lifecycle.state() == "active"
            harness.wait_connected()
        finally:
            harness.close()


def test_parameter_overrides_type_the_lifecycle_flags() -> None:
    assert parameter_overrides({"lifecycle": "True", "autostart": "false"}) == {"lifecycle": True, "autostart": False}


def test_fusion_launch_lifecycle_arguments(launch_run) -> None:  # noqa: F811
    run = launch_run("fusion.launch.py")
    assert run.arguments["lifecycle"] == "" and run.arguments["autostart"] == ""
    (node,) = run.execute()
    assert "lifecycle" not in node.kwargs["parameters"][-1]
    (node,) = run.execute(lifecycle="true", autostart="True")
    assert node.kwargs["parameters"][-1]["lifecycle"] is True and node.kwargs["parameters"][-1]["autostart"] is True
    with pytest.raises(ConfigError, match="lifecycle:=yes is not true or false"):
        run.execute(lifecycle="yes")

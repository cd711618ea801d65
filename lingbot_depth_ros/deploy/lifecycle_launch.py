"""launch/managed_depth.launch.py as plain Python (no launch / launch_ros import): the depth node as a managed
node, brought up by Nav2's lifecycle manager (``nav2_lifecycle_manager``).

The manager runs in the depth node's namespace and drives ``lingbot_depth_node`` through its
``change_state`` / ``get_state`` services (configure, then activate, at start with ``autostart``). Bonds are
disabled (``bond_timeout: 0.0``): rclpy has no bond library, so a Python node cannot answer the manager's
heartbeat; with bonds on, the manager would wait for one and report the node as failed. Without the
manager installed, the launch warns once and lets the node configure and activate itself (``autostart``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lingbot_depth_ros.deploy.launch_config import NODE_NAME, NodeSetup, node_setup
from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.params.lifecycle import AUTOSTART, LIFECYCLE

MANAGER_PACKAGE = "nav2_lifecycle_manager"
MANAGER_EXECUTABLE = "lifecycle_manager"
MANAGER_NAME = "lifecycle_manager_depth"
#: the manager's bond heartbeat timeout [s]: 0 disables bonds (rclpy nodes have none)
BOND_TIMEOUT_S = 0.0


@dataclass(frozen=True)
class ManagedLaunch:
    """The depth node (:class:`NodeSetup`, ``lifecycle: true``) and, unless None, the lifecycle manager's
    parameters (it runs in ``node.namespace`` as :data:`MANAGER_NAME`); ``warning``: one line for the log."""

    node: NodeSetup
    manager_parameters: dict[str, Any] | None
    warning: str | None = None


def _flag(values: Mapping[str, str], name: str, default: str) -> bool:
    text = (values.get(name) or default).strip().lower()
    if text not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false, got '{text}'")
    return text == "true"


def manager_parameters(node_names: list[str], autostart: bool, use_sim_time: bool) -> dict[str, Any]:
    """nav2_lifecycle_manager's parameters for managing ``node_names`` (relative to its namespace) without bonds."""
    return {"node_names": list(node_names), "autostart": autostart, "bond_timeout": BOND_TIMEOUT_S,
            "use_sim_time": use_sim_time}


def managed_launch(values: Mapping[str, str], find_share: Callable[[str], str]) -> ManagedLaunch:
    """The depth node and its lifecycle manager from the launch argument values (those of
    :func:`~lingbot_depth_ros.deploy.launch_config.node_setup`, and ``autostart``: the manager configures and
    activates the node at start, default true).

    ``find_share``: ament_index_python's ``get_package_share_directory`` (raises PackageNotFoundError, a
    KeyError, for a package not installed): without nav2_lifecycle_manager no manager is started and the node
    brings itself up when ``autostart`` is true (warning). Raises ConfigError / ValueError for bad values.
    """
    autostart = _flag(values, AUTOSTART, "true")
    setup = node_setup({k: v for k, v in values.items() if k not in (LIFECYCLE, AUTOSTART)})
    overrides = setup.parameters[-1]
    overrides[LIFECYCLE] = True
    try:
        find_share(MANAGER_PACKAGE)
    except KeyError:
        overrides[AUTOSTART] = autostart
        warning = (f"{MANAGER_PACKAGE} is not installed (ros-<distro>-nav2-lifecycle-manager): the managed node "
                   + ("configures and activates itself (autostart)" if autostart else
                      f"stays unconfigured: ros2 lifecycle set {NODE_NAME} configure"))
        return ManagedLaunch(setup, None, warning)
    overrides[AUTOSTART] = False  # the manager drives the transitions
    return ManagedLaunch(setup, manager_parameters([NODE_NAME], autostart, overrides["use_sim_time"]))


__all__ = ["BOND_TIMEOUT_S", "MANAGER_EXECUTABLE", "MANAGER_NAME", "MANAGER_PACKAGE", "ManagedLaunch",
           "managed_launch", "manager_parameters"]

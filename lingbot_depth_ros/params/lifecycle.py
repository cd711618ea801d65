"""The two parameters that make a node of this package a managed (lifecycle) node (no rclpy).

Both the depth node and the fusion node take them (their tables add :func:`lifecycle_params`); the
executables read ``lifecycle`` before they build the node (``ros/node_main.py``), the managed node reads
``autostart``. README "Managed (lifecycle) node".
"""

from __future__ import annotations

from lingbot_depth_ros.param_spec import ParamSpec

LIFECYCLE = "lifecycle"
AUTOSTART = "autostart"
#: Parameters that keep their start-up value for the whole process, managed or not (what they select is built
#: before any parameter can be set).
PROCESS_PARAMS = frozenset({LIFECYCLE, AUTOSTART})


def lifecycle_params(configure_loads: str) -> tuple[ParamSpec, ...]:
    """``lifecycle`` and ``autostart`` for a node whose configure transition loads ``configure_loads``."""
    return (
        ParamSpec(LIFECYCLE, False, "Run as a managed (lifecycle) node: it starts unconfigured; configure checks the "
                  f"parameters and loads {configure_loads} (the log says how long it took and the memory it took), "
                  "activate subscribes and publishes, deactivate stops processing (what configure loaded stays), "
                  "cleanup releases it, shutdown ends the process; driven through <node>/change_state (ros2 "
                  "lifecycle set, Nav2's lifecycle manager). A failed transition is refused with the reason in the "
                  "log and in /diagnostics (the process stays up). The parameters read-only at run time can be set "
                  "while unconfigured. False: the plain node, working from the start.", read_only=True),
        ParamSpec(AUTOSTART, False, "lifecycle true: configure and activate at start, for robots without a "
                  "lifecycle manager (a failed configure leaves the node unconfigured, the reason logged). "
                  "Ignored without lifecycle.", read_only=True),
    )


__all__ = ["AUTOSTART", "LIFECYCLE", "PROCESS_PARAMS", "lifecycle_params"]

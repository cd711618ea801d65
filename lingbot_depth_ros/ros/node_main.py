"""The shared ``main()`` of the package's node executables: DDS profile, init, spin, one-line fatal errors."""

from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.node import Node

from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.ros.dds import apply_default_dds_profile


def run_node(make_node: Callable[[], Node], executable: str, args: list[str] | None = None, *,
             startup_warning: Callable[[], str | None] | None = None) -> int:
    """Spin the node ``make_node()`` until shutdown; the exit status of the executable.

    Args:
        make_node: builds the node (after ``rclpy.init``).
        executable: name in the fatal message (``[<executable>] FATAL: ...``).
        args: ROS arguments for ``rclpy.init`` (None: the process's).
        startup_warning: called before ``rclpy.init`` (after the DDS profile is applied); a returned text
            is logged as a warning by the node once it exists.

    Returns:
        0 after a normal shutdown (Ctrl-C, external shutdown); 1 when startup was refused (bad parameter,
        missing/mismatched checkpoint, impossible mode: one clear line on stderr).
    """
    apply_default_dds_profile()
    warning = startup_warning() if startup_warning is not None else None
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        if warning:
            node.get_logger().warning(warning)
        rclpy.spin(node)
    except (LingbotDepthError, rclpy.exceptions.ParameterException) as exc:
        print(f"[{executable}] FATAL: {exc}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


__all__ = ["run_node"]

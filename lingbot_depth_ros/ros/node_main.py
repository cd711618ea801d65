"""The shared ``main()`` of the package's node executables: DDS profile, init, spin, one-line fatal errors."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node
from rclpy.task import Future

from lingbot_depth_ros.deploy.dds import apply_default_dds_profile
from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.params.help import handle_node_arguments
from lingbot_depth_ros.params.lifecycle import LIFECYCLE
from lingbot_depth_ros.ros.managed_node import FINALIZED_LINGER_S, ManagedNode

RCLError = rclpy_implementation.RCLError


def lifecycle_requested(node_name: str) -> bool:
    """The node's ``lifecycle`` parameter as rcl resolves it for ``node_name`` (``-p``, ``--params-file`` sections
    of the node's name / namespace / wildcards, remaps), read by a short-lived probe node (no parameter services,
    no rosout) before the real node is built: the parameter selects which class that is.

    Only ``true`` selects the managed node; any other value builds the plain node, which refuses a value that is
    not a boolean (one clear line)."""
    probe = Node(node_name, start_parameter_services=False, enable_rosout=False)
    try:
        declared = probe.declare_parameter(LIFECYCLE, False, ParameterDescriptor(dynamic_typing=True))
        return declared.value is True
    finally:
        probe.destroy_node()


def spin_managed(node: ManagedNode) -> None:
    """Spin a managed node until it is finalized (shutdown transition), then FINALIZED_LINGER_S more so the
    one who asked for the shutdown can read the state back (get_state: finalized)."""
    rclpy.spin_until_future_complete(node, node.finished)
    rclpy.spin_until_future_complete(node, Future(), timeout_sec=FINALIZED_LINGER_S)


def run_node(make_node: Callable[[], Node], executable: str, args: list[str] | None = None, *,
             startup_warning: Callable[[], str | None] | None = None,
             usage: Callable[[], str] | None = None, program: str | None = None,
             make_managed: Callable[[], ManagedNode] | None = None) -> int:
    """Spin the node ``make_node()`` until shutdown; the exit status of the executable.

    Args:
        make_node: builds the node (after ``rclpy.init``).
        executable: the node's name (its ``lifecycle`` parameter is read for it) and the name in the fatal
            message (``[<executable>] FATAL: ...``).
        make_managed: builds the managed (lifecycle) form of the node, used instead of ``make_node`` when the
            node's ``lifecycle`` parameter is true (:func:`lifecycle_requested`); it is spun until finalized
            (:func:`spin_managed`), then the process exits with 0.
        args: the command line for ``rclpy.init`` (None: the process's ``sys.argv``; a first element not
            starting with ``-`` is the program name).
        startup_warning: called before ``rclpy.init`` (after the DDS profile is applied); a returned text
            is logged as a warning by the node once it exists.
        usage: builds the ``-h`` / ``--help`` text (printed before any ROS start-up); None: no own arguments.
        program: the console script's name in a usage error (default ``executable``).

    Returns:
        0 after a normal shutdown (Ctrl-C, external shutdown); 1 when startup was refused (bad parameter,
        missing/mismatched checkpoint, impossible mode: one clear line on stderr); 0 after ``--help`` (the
        node is not started, rclpy not initialised); 2 for an argument outside ``--ros-args`` other than
        ``-h`` / ``--help`` (one line on stderr).
    """
    argv = list(sys.argv if args is None else args)
    if argv and not argv[0].startswith("-"):
        argv = argv[1:]  # the program name
    if usage is not None:
        status = handle_node_arguments(program or executable, argv, usage())
        if status is not None:
            return status
    apply_default_dds_profile()
    warning = startup_warning() if startup_warning is not None else None
    try:
        rclpy.init(args=args)
    except RCLError as exc:  # e.g. ROS_DOMAIN_ID not a number, a malformed --ros-args
        print(f"[{executable}] FATAL: ROS start-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    node = None
    try:
        node = make_managed() if make_managed is not None and lifecycle_requested(executable) else make_node()
        if warning:
            node.get_logger().warning(warning)
        if isinstance(node, ManagedNode):
            spin_managed(node)
        else:
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

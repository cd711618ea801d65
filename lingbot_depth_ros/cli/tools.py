"""Console entry points of the tools that need optional pip extras.

Each checks its extras first, so a robot without them gets one line (exit 2) naming the pip package
instead of a traceback; then it runs the tool's own ``main``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lingbot_depth_ros.optional import MissingExtraError, require


def _missing(tool: str, *modules: str) -> int | None:
    """None when ``modules`` import, else 2 after printing one error line."""
    try:
        require(tool, *modules)
    except MissingExtraError as exc:
        print(f"{tool}: error: {exc}", file=sys.stderr)
        return 2
    return None


def bag_main(argv: Sequence[str] | None = None) -> int:
    """``lingbot-depth-bag``: needs rosbags."""
    status = _missing("lingbot-depth-bag", "rosbags")
    if status is not None:
        return status
    from lingbot_depth_ros.cli.bag import main
    return main(None if argv is None else list(argv))


def eval_main(argv: Sequence[str] | None = None) -> int:
    """``lingbot-depth-eval``: needs rosbags."""
    status = _missing("lingbot-depth-eval", "rosbags")
    if status is not None:
        return status
    from lingbot_depth_ros.cli.eval import main
    return main(None if argv is None else list(argv))


def export_main(argv: Sequence[str] | None = None) -> int:
    """``lingbot-depth-export``: needs torch and safetensors."""
    status = _missing("lingbot-depth-export", "torch", "safetensors")
    if status is not None:
        return status
    from lingbot_depth_ros.cli.export import main
    return main(argv)


def demo_main(argv: Sequence[str] | None = None) -> int:
    """``lingbot-depth-demo``: needs rosbags (the demo replays a rosbag2 into the node)."""
    status = _missing("lingbot-depth-demo", "rosbags")
    if status is not None:
        return status
    from lingbot_depth_ros.cli.demo import main
    return main(None if argv is None else list(argv))

"""The RViz configuration of the depth node, rendered for the node's namespace, remaps and fixed frame.

RViz resolves relative topic names in its own (root) namespace, so a static .rviz with ``depth/image``
shows nothing for a node started with ``namespace:=robot1``. The launch files therefore render this
config at launch time with fully qualified topic names (:func:`write_rviz_config`). The packaged
``rviz/lingbot_depth.rviz`` is the rendering for the defaults (no namespace, no remaps), for
``rviz2 -d`` by hand; ``python -m lingbot_depth_ros.deploy.rviz_config --write`` regenerates it.

No rclpy import: usable from launch files and tests.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FIXED_FRAME = "camera_color_optical_frame"
PACKAGED_CONFIG = Path(__file__).resolve().parents[2] / "rviz" / "lingbot_depth.rviz"
_NAME_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def resolve_topic(name: str, namespace: str = "") -> str:
    """Fully qualified ROS topic name: ``name`` (relative or absolute) resolved in ``namespace``.

    Relative remap targets are resolved in the node's namespace, as the launch ``remappings`` do.
    Raises ValueError for an empty or invalid name (private ``~`` names, empty tokens, bad characters).
    """
    if not name:
        raise ValueError("empty topic name")
    if name.startswith("~"):
        raise ValueError(f"private topic name '{name}' is not supported here: use a relative or absolute name")
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    full = name if name.startswith("/") else f"{ns}/{name}"
    tokens = full.strip("/").split("/")
    if full.endswith("/") or not all(_NAME_TOKEN.match(t) for t in tokens):
        raise ValueError(f"invalid topic name '{full}'")
    return full


@dataclass(frozen=True)
class CameraView:
    """Fully qualified topics one depth node uses, as RViz should show them.

    ``image`` is the topic the node subscribes to for its input image: ``<image>/compressed`` for
    ``image_transport: compressed`` (RViz's image display picks the transport from that suffix).
    """

    label: str
    image: str
    depth: str
    colorized: str
    points: str
    scan: str
    markers: str

    @classmethod
    def for_node(cls, namespace: str = "", image: str = "image", image_transport: str = "raw",
                 label: str = "") -> CameraView:
        """The topics of a node in ``namespace`` whose ``image`` input is remapped to ``image``."""
        if image_transport not in ("raw", "compressed"):
            raise ValueError(f"image_transport must be raw or compressed, got '{image_transport}'")
        image_topic = resolve_topic(image, namespace) + ("/compressed" if image_transport == "compressed" else "")
        return cls(label=label, image=image_topic, depth=resolve_topic("depth/image", namespace),
                   colorized=resolve_topic("depth/colorized", namespace), points=resolve_topic("points", namespace),
                   scan=resolve_topic("obstacles/scan", namespace),
                   markers=resolve_topic("obstacles/markers", namespace))

    def topics(self) -> tuple[str, ...]:
        return (self.image, self.depth, self.colorized, self.points, self.scan, self.markers)


def _topic(name: str, reliability: str) -> dict[str, Any]:
    return {"Value": name, "Depth": 5, "Durability Policy": "Volatile", "History Policy": "Keep Last",
            "Reliability Policy": reliability}


def _displays(view: CameraView) -> list[dict[str, Any]]:
    prefix = f"{view.label}: " if view.label else ""
    return [
        {"Class": "rviz_default_plugins/Image", "Name": f"{prefix}Input image", "Enabled": True,
         "Topic": _topic(view.image, "Best Effort"), "Normalize Range": True, "Value": True},
        {"Class": "rviz_default_plugins/Image", "Name": f"{prefix}Depth (32FC1, m)", "Enabled": True,
         "Topic": _topic(view.depth, "Reliable"), "Normalize Range": False, "Min Value": 0, "Max Value": 10,
         "Value": True},
        {"Class": "rviz_default_plugins/Image", "Name": f"{prefix}Colorized depth", "Enabled": True,
         "Topic": _topic(view.colorized, "Reliable"), "Normalize Range": True, "Value": True},
        {"Class": "rviz_default_plugins/PointCloud2", "Name": f"{prefix}Dense cloud", "Enabled": True,
         "Topic": _topic(view.points, "Reliable"), "Color Transformer": "RGB8", "Style": "Points",
         "Size (Pixels)": 2, "Decay Time": 0, "Position Transformer": "XYZ", "Use Fixed Frame": True,
         "Value": True},
        {"Class": "rviz_default_plugins/LaserScan", "Name": f"{prefix}Obstacle scan", "Enabled": True,
         "Topic": _topic(view.scan, "Reliable"), "Color Transformer": "FlatColor", "Color": "255; 0; 0",
         "Size (m)": 0.05, "Style": "Flat Squares", "Value": True},
        {"Class": "rviz_default_plugins/MarkerArray", "Name": f"{prefix}Obstacle sectors", "Enabled": True,
         "Topic": _topic(view.markers, "Reliable"), "Namespaces": {}, "Value": True},
    ]


def rviz_config(cameras: Sequence[CameraView], fixed_frame: str = DEFAULT_FIXED_FRAME) -> dict[str, Any]:
    """The RViz 2 configuration (as the .rviz YAML's mapping) showing ``cameras`` in ``fixed_frame``."""
    if not cameras:
        raise ValueError("no camera to show")
    if not fixed_frame or fixed_frame.startswith("/") or any(c.isspace() for c in fixed_frame):
        raise ValueError(f"invalid fixed frame '{fixed_frame}' (a TF frame id such as camera_color_optical_frame)")
    grid = {"Class": "rviz_default_plugins/Grid", "Name": "Grid", "Enabled": True, "Cell Size": 1, "Plane": "XZ",
            "Plane Cell Count": 20, "Reference Frame": "<Fixed Frame>", "Value": True}
    displays = [grid] + [d for view in cameras for d in _displays(view)]
    return {
        "Panels": [
            {"Class": "rviz_common/Displays", "Name": "Displays",
             "Property Tree Widget": {"Expanded": None, "Splitter Ratio": 0.5}},
            {"Class": "rviz_common/Views", "Name": "Views"},
        ],
        "Visualization Manager": {
            "Class": "", "Displays": displays, "Enabled": True,
            "Global Options": {"Background Color": "48; 48; 48", "Fixed Frame": fixed_frame, "Frame Rate": 30},
            "Name": "root",
            "Tools": [{"Class": "rviz_default_plugins/Interact"}, {"Class": "rviz_default_plugins/MoveCamera"},
                      {"Class": "rviz_default_plugins/Select"}],
            "Value": True,
            "Views": {"Current": {"Class": "rviz_default_plugins/Orbit", "Distance": 6,
                                  "Focal Point": {"X": 0, "Y": 0, "Z": 2}, "Name": "Current View", "Pitch": -1.2,
                                  "Yaw": 4.71, "Target Frame": "<Fixed Frame>", "Value": "Orbit (rviz)"}},
        },
        "Window Geometry": {"Height": 900, "Width": 1500},
    }


def render_rviz_config(cameras: Sequence[CameraView], fixed_frame: str = DEFAULT_FIXED_FRAME) -> str:
    """The .rviz file text (YAML) of :func:`rviz_config`."""
    import yaml  # pyyaml: a dependency of launch and of this package's tools

    header = ("# Generated by lingbot_depth_ros.deploy.rviz_config: fully qualified topics for "
              + ", ".join(sorted({v.depth.rsplit("/depth/image", 1)[0] or "/" for v in cameras}))
              + f"; fixed frame {fixed_frame}.\n")
    return header + yaml.safe_dump(rviz_config(cameras, fixed_frame), sort_keys=False, default_flow_style=False)


def rviz_cache_dir() -> Path:
    """Where launch files put rendered configs: ``$XDG_CACHE_HOME/lingbot_depth_ros/rviz`` (default
    ``~/.cache/...``), one folder per user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lingbot_depth_ros" / "rviz"


def write_rviz_config(cameras: Sequence[CameraView], fixed_frame: str = DEFAULT_FIXED_FRAME,
                      directory: str | Path | None = None) -> Path:
    """Render into ``lingbot_depth_<content hash>.rviz`` in ``directory`` (default :func:`rviz_cache_dir`).

    Named by its content: relaunching with the same cameras rewrites the one file (no temporary file left per
    launch), and launches with different cameras at the same time never share a file. Written to a temporary
    name first and renamed, so an RViz starting meanwhile never reads half a file. Falls back to a per-user
    folder in the system temp dir when the cache is not writable.
    """
    text = render_rviz_config(cameras, fixed_frame)
    name = f"lingbot_depth_{hashlib.sha256(text.encode()).hexdigest()[:16]}.rviz"
    if directory is not None:
        return _write_atomically(Path(directory), name, text)
    try:
        return _write_atomically(rviz_cache_dir(), name, text)
    except OSError:
        return _write_atomically(Path(tempfile.gettempdir()) / f"lingbot_depth_ros_rviz_{os.getuid()}", name, text)


def _write_atomically(folder: Path, name: str, text: str) -> Path:
    """``text`` into ``folder/name`` via a temporary file in ``folder`` and a rename."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".lingbot_depth_", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(partial, folder / name)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return folder / name


def main(argv: list[str] | None = None) -> int:
    """``python -m lingbot_depth_ros.deploy.rviz_config [--write]``: print (or write) the packaged default config."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {PACKAGED_CONFIG}")
    args = parser.parse_args(argv)
    text = render_rviz_config([CameraView.for_node()])
    if args.write:
        PACKAGED_CONFIG.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Intrinsics from a camera-info YAML file.

Two layouts are read:
- the ROS calibration file (camera_calibration / camera_info_manager): ``image_width``,
  ``image_height``, ``camera_matrix: {rows: 3, cols: 3, data: [9 numbers]}``;
- a ``sensor_msgs/CameraInfo`` message dumped as YAML (``ros2 topic echo --once``): ``width``,
  ``height``, ``k: [9 numbers]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics


def _matrix_numbers(doc: dict[str, Any], path: Path) -> list[float]:
    if isinstance(doc.get("camera_matrix"), dict):
        data = doc["camera_matrix"].get("data")
    elif "k" in doc or "K" in doc:
        data = doc.get("k", doc.get("K"))
    else:
        raise InputError(f"{path}: no 'camera_matrix' (calibration file) or 'k' (CameraInfo message) entry")
    try:
        numbers = [float(v) for v in data]
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: the camera matrix must be 9 numbers, got {data!r}") from exc
    if len(numbers) != 9:
        raise InputError(f"{path}: the camera matrix must be 9 numbers, got {len(numbers)}")
    return numbers


def load_camera_info_yaml(path: str | Path) -> CameraIntrinsics:
    """Read intrinsics (and the image size they belong to) from a camera-info YAML file.

    Raises:
        InputError: missing file, not YAML, missing entries, or non-positive focal lengths.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"camera info file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a YAML mapping at the top level")
    width = doc.get("image_width", doc.get("width"))
    height = doc.get("image_height", doc.get("height"))
    if not isinstance(width, int) or not isinstance(height, int):
        raise InputError(f"{path}: needs integer 'image_width'/'image_height' (or 'width'/'height'), "
                         f"got {width!r} x {height!r}")
    return CameraIntrinsics.from_matrix(np.array(_matrix_numbers(doc, path)), width, height)

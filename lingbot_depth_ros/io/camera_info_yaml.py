"""Intrinsics from a camera-info YAML file.

Two layouts are read:
- the ROS calibration file (camera_calibration / camera_info_manager): ``image_width``,
  ``image_height``, ``camera_matrix: {rows: 3, cols: 3, data: [9 numbers]}``;
- a ``sensor_msgs/CameraInfo`` message dumped as YAML (``ros2 topic echo --once``): ``width``,
  ``height``, ``k: [9 numbers]``.

The file is untrusted input: it is read only up to :data:`MAX_CAMERA_INFO_BYTES`, YAML anchors and
aliases are refused (a few hundred bytes of nested aliases can expand to gigabytes, the "billion
laughs" document), and error messages never echo the parsed values beyond a short summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import yaml

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

# A calibration file is about 1 KB; anything this large is not one.
MAX_CAMERA_INFO_BYTES = 256 * 1024


class _AliasRefused(yaml.YAMLError):
    """A YAML anchor or alias was met (refused before anything is expanded)."""


class _NoAliasSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses anchors (``&a``) and aliases (``*a``) while composing."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        # types-PyYAML leaves Parser.peek_event unannotated (it returns the next yaml.Event)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise _AliasRefused(f"line {mark.line + 1}, column {mark.column + 1}: YAML anchors and aliases "
                                "(&name, *name) are not accepted in a camera-info file")
        return super().compose_node(parent, index)


def _is_integer(value: object) -> TypeGuard[int]:
    """An int that is not a bool (YAML ``true`` is not a size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _summary(value: object) -> str:
    """A short, one-line description of a parsed YAML value (never the whole structure)."""
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} entries"
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__} ({len(text)} characters)"


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _matrix_numbers(doc: dict[str, Any], path: Path) -> list[float]:
    if isinstance(doc.get("camera_matrix"), dict):
        data = doc["camera_matrix"].get("data")
    elif "k" in doc or "K" in doc:
        data = doc.get("k", doc.get("K"))
    else:
        raise InputError(f"{path}: no 'camera_matrix' (calibration file) or 'k' (CameraInfo message) entry")
    try:
        numbers = [float(v) for v in data]
    except (TypeError, ValueError):
        raise InputError(f"{path}: the camera matrix must be 9 numbers, got {_summary(data)}") from None
    if len(numbers) != 9:
        raise InputError(f"{path}: the camera matrix must be 9 numbers, got {len(numbers)}")
    return numbers


def load_camera_info_yaml(path: str | Path) -> CameraIntrinsics:
    """Read intrinsics (and the image size they belong to) from a camera-info YAML file.

    Raises:
        InputError: missing, oversized or non-UTF-8 file, not YAML, YAML anchors/aliases, missing
            entries, or non-positive focal lengths.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"camera info file not found: {path}")
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_CAMERA_INFO_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_CAMERA_INFO_BYTES:
        raise InputError(f"{path}: larger than {MAX_CAMERA_INFO_BYTES} bytes; not a camera calibration file")
    try:
        doc = yaml.load(raw.decode("utf-8"), Loader=_NoAliasSafeLoader)
    except _AliasRefused as exc:
        raise InputError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not a usable YAML file ({_one_line(str(exc))})") from None
    except RecursionError:
        raise InputError(f"{path}: YAML nested too deeply") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a YAML mapping at the top level")
    width = doc.get("image_width", doc.get("width"))
    height = doc.get("image_height", doc.get("height"))
    if not (_is_integer(width) and _is_integer(height)):
        raise InputError(f"{path}: needs integer 'image_width'/'image_height' (or 'width'/'height'), "
                         f"got {_summary(width)} x {_summary(height)}")
    return CameraIntrinsics.from_matrix(np.array(_matrix_numbers(doc, path)), width, height)

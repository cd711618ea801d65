"""KITTI files without ROS: depth PNGs, velodyne scans, calibration (intrinsics, camera choice, LiDAR extrinsics)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics


def load_kitti_depth_png(path: Path) -> np.ndarray:
    """KITTI depth PNG (uint16, metres * 256, 0 = none) -> (H, W) float32 [m], 0 = none (converted by
    :func:`~lingbot_depth_ros.io.depth_files.depth_m_from_array` with 1/256 m per unit)."""
    from lingbot_depth_ros.io.depth_files import KITTI_M_PER_UNIT, depth_m_from_array

    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InputError(f"{path}: cannot decode image")
    if array.dtype != np.uint16 or array.ndim != 2:
        raise InputError(f"{path}: KITTI depth must be a single-channel 16-bit PNG (m * 256), got "
                         f"{array.dtype} with shape {array.shape}")
    return depth_m_from_array(array, str(path), KITTI_M_PER_UNIT)


@dataclass(frozen=True)
class KittiRawLayout:
    """A KITTI raw drive folder as ``lingbot-depth fuse`` and ``lingbot-depth batch`` read it::

        <drive>/image_0N/*.png              RGB images of camera N (the input folder, or <drive> itself)
        <drive>/velodyne_raw/image_0N/*.png LiDAR depth projected into camera N, 16-bit metres x 256
        <drive>/calib/calib_cam_to_cam.txt  P_rect_0N intrinsics

    ``calib`` / ``sparse`` are None where the drive lacks them; ``camera`` is "02", "03"...
    """

    images: Path
    camera: str
    calib: Path | None
    sparse: Path | None


_CAMERA_FOLDER = re.compile(r"image_(0\d)")


def kitti_raw_layout(folder: Path, camera: str = "02") -> KittiRawLayout | None:
    """The KITTI raw layout of ``folder``: an ``image_0N`` folder inside a drive that has ``velodyne_raw/`` or
    ``calib/`` beside it, or the drive folder itself (then camera ``camera``'s images). None otherwise.

    The one detection of this layout (``lingbot-depth fuse`` and ``lingbot-depth batch``).
    """
    folder = Path(folder)
    match = _CAMERA_FOLDER.fullmatch(folder.name)
    if match is not None:
        drive, camera = folder.parent, match.group(1)
    elif (folder / f"image_{camera}").is_dir() and (folder / "velodyne_raw" / f"image_{camera}").is_dir():
        drive, folder = folder, folder / f"image_{camera}"
    else:
        return None
    calib = drive / "calib" / "calib_cam_to_cam.txt"
    sparse = drive / "velodyne_raw" / f"image_{camera}"
    layout = KittiRawLayout(images=folder, camera=camera, calib=calib if calib.is_file() else None,
                            sparse=sparse if sparse.is_dir() else None)
    return layout if layout.calib is not None or layout.sparse is not None else None


def calib_entries(path: Path) -> dict[str, np.ndarray]:
    entries: dict[str, np.ndarray] = {}
    for line in path.read_text().splitlines():
        if ":" not in line:
            continue
        name, _, values = line.partition(":")
        try:
            entries[name.strip()] = np.array([float(v) for v in values.split()], dtype=np.float64)
        except ValueError:
            continue  # e.g. calib_time: 09-Jan-2012 13:57:47
    return entries


def kitti_intrinsics(calib: Path, width: int, height: int, camera: str = "02") -> CameraIntrinsics:
    """Intrinsics from ``calib_cam_to_cam.txt`` (``P_rect_<camera>``) or a depth_selection intrinsics
    file (9 numbers, K row-major).

    Raises:
        InputError: the file has neither, or its ``S_rect_<camera>`` image size is not width x height.
    """
    if not calib.is_file():
        raise InputError(f"calibration file not found: {calib}")
    entries = calib_entries(calib)
    key = f"P_rect_{camera}"
    size = entries.get(f"S_rect_{camera}")
    if size is not None and size.size == 2 and (int(round(size[0])), int(round(size[1]))) != (width, height):
        raise InputError(f"{calib}: S_rect_{camera} is for {int(round(size[0]))}x{int(round(size[1]))} images, "
                         f"the images are {width}x{height}: use the calibration of this recording (and camera)")
    if key in entries and entries[key].size == 12:
        p = entries[key].reshape(3, 4)
        return CameraIntrinsics(fx=p[0, 0], fy=p[1, 1], cx=p[0, 2], cy=p[1, 2], width=width, height=height)
    numbers = calib.read_text().split()
    try:
        values = [float(v) for v in numbers]
    except ValueError:
        values = []
    if len(values) == 9:
        return CameraIntrinsics.from_matrix(np.array(values), width, height)
    raise InputError(f"{calib}: no {key} (12 numbers) and not a 9-number K file")


def camera_from_paths(paths: Sequence[str | Path]) -> str | None:
    """The KITTI camera ("02" or "03"...) that ``image_0N`` in the paths names; None when none does.

    Raises:
        InputError: the paths name different cameras.
    """
    found = {m for path in paths for m in re.findall(r"image_(0[0-3])(?!\d)", Path(path).resolve().as_posix())}
    if len(found) > 1:
        raise InputError(f"the paths name cameras {', '.join(f'image_{c}' for c in sorted(found))}: pass the files "
                         "of one camera")
    return found.pop() if found else None


def resolve_camera(camera: str | None, paths: Sequence[str | Path], needed: bool) -> str:
    """The rectified KITTI camera to calibrate for: ``camera`` or the one the paths name.

    Raises:
        InputError: ``camera`` contradicts the paths, or neither tells and ``needed``.
    """
    inferred = camera_from_paths(paths)
    if camera is not None and inferred is not None and camera != inferred:
        raise InputError(f"--camera {camera} but the input paths are image_{inferred}: the calibration of camera "
                         f"{camera} would be applied to camera {inferred}'s images")
    chosen = camera or inferred
    if chosen is None:
        if needed:
            raise InputError("cannot tell the KITTI camera from the paths (no image_02 / image_03 in them): pass "
                             "--camera 02 or --camera 03")
        return "02"  # not used: no calibration entry depends on it
    return chosen


def kitti_camera_from_velodyne(velo_to_cam: Path, cam_to_cam: Path | None, camera: str = "02") -> np.ndarray:
    """4x4 T_camera_velodyne for rectified camera ``camera`` from KITTI calibration files.

    ``calib_velo_to_cam.txt`` gives R, T of the unrectified reference camera 0; with
    ``calib_cam_to_cam.txt`` the rectifying rotation ``R_rect_00`` and the baseline of
    ``P_rect_<camera>`` (P[0, 3] / P[0, 0]) are applied, as in the KITTI devkit.
    """
    entries = calib_entries(velo_to_cam)
    if "R" not in entries or "T" not in entries or entries["R"].size != 9 or entries["T"].size != 3:
        raise InputError(f"{velo_to_cam}: needs 'R:' (9 numbers) and 'T:' (3 numbers)")
    cam0_from_velo = np.eye(4)
    cam0_from_velo[:3, :3] = entries["R"].reshape(3, 3)
    cam0_from_velo[:3, 3] = entries["T"]
    if cam_to_cam is None:
        return cam0_from_velo
    cam = calib_entries(cam_to_cam)
    if "R_rect_00" not in cam or f"P_rect_{camera}" not in cam:
        raise InputError(f"{cam_to_cam}: needs R_rect_00 and P_rect_{camera}")
    rect = np.eye(4)
    rect[:3, :3] = cam["R_rect_00"].reshape(3, 3)
    p = cam[f"P_rect_{camera}"].reshape(3, 4)
    baseline = np.eye(4)
    baseline[0, 3] = p[0, 3] / p[0, 0]
    baseline[1, 3] = p[1, 3] / p[1, 1]
    return baseline @ rect @ cam0_from_velo


def load_velodyne_bin(path: Path) -> np.ndarray:
    """KITTI velodyne scan (.bin, float32 x, y, z, reflectance) -> (N, 3) float32 [m]."""
    raw = np.fromfile(path, dtype="<f4")
    if raw.size % 4:
        raise InputError(f"{path}: size {raw.size * 4} bytes is not a multiple of 16 (x, y, z, r float32)")
    return np.ascontiguousarray(raw.reshape(-1, 4)[:, :3])

"""The files of one prediction off the robot (``lingbot-depth predict``): depth as NPY [m] and 16-bit PNG [mm],
the colorized depth, the coloured point cloud and, when made, the per-pixel confidence."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.depth_files import save_depth_png_mm
from lingbot_depth_ros.io.ply import write_ply
from lingbot_depth_ros.pipeline.prediction import Prediction


def write_outputs(prediction: Prediction, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>_depth.npy`` ((H, W) float32 [m], NaN invalid), ``<stem>_depth_mm.png`` (16-bit [mm],
    0 invalid), ``<stem>_depth_color.png`` (turbo) and ``<stem>_points.ply`` (xyz [m] + rgb) into ``out_dir``,
    and with ``prediction.confidence`` :func:`write_confidence`'s two files, with ``prediction.lidar_agreement``
    ``<stem>_lidar_agreement.json`` (the LiDAR agreement guard's figures, ``LidarAgreement.as_dict``); returns
    their paths.

    Raises:
        InputError: the colour PNG could not be written. OSError: the other files could not be.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    npy_path = out_dir / f"{stem}_depth.npy"
    np.save(npy_path, prediction.depth_m, allow_pickle=False)
    png_path = save_depth_png_mm(out_dir / f"{stem}_depth_mm.png", prediction.depth_m)
    color_path = out_dir / f"{stem}_depth_color.png"
    if not cv2.imwrite(str(color_path), cv2.cvtColor(prediction.colorized, cv2.COLOR_RGB2BGR)):
        raise InputError(f"cannot write {color_path}")
    ply_path = write_ply(out_dir / f"{stem}_points.ply", prediction.points_xyz, prediction.points_rgb)
    written = [npy_path, png_path, color_path, ply_path]
    if prediction.confidence is not None:
        written += write_confidence(prediction.confidence, out_dir, stem)
    if prediction.lidar_agreement is not None:
        agreement_path = out_dir / f"{stem}_lidar_agreement.json"
        agreement_path.write_text(json.dumps(prediction.lidar_agreement.as_dict(), indent=2) + "\n")
        written.append(agreement_path)
    return written


def confidence_png(confidence: np.ndarray) -> np.ndarray:
    """(H, W) uint16 of a confidence map (0..1, NaN invalid): round(confidence x 65535); invalid pixels 0, as in
    the depth PNG (tell a confidence of 0 from an invalid pixel there)."""
    return np.round(np.nan_to_num(np.clip(confidence, 0.0, 1.0), nan=0.0) * 65535.0).astype(np.uint16)


def write_confidence(confidence: np.ndarray, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>_confidence.npy`` ((H, W) float32 0..1, NaN where the depth is NaN) and
    ``<stem>_confidence.png`` (:func:`confidence_png`) into ``out_dir``; returns their paths."""
    npy_path = out_dir / f"{stem}_confidence.npy"
    np.save(npy_path, confidence.astype(np.float32), allow_pickle=False)
    png_path = out_dir / f"{stem}_confidence.png"
    if not cv2.imwrite(str(png_path), confidence_png(confidence)):
        raise InputError(f"cannot write {png_path}")
    return [npy_path, png_path]

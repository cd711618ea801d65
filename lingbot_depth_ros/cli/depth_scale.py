"""``--sparse-scale``: metres per stored unit of 16-bit depth files, one option for predict, batch and fuse.

16-bit depth PNGs are millimetres by default (REP 118); KITTI's (velodyne_raw, groundtruth) are metres x 256,
i.e. ``--sparse-scale 1/256``. Float files (.npy, float32 TIFF) are always metres. The conversion itself is
:func:`lingbot_depth_ros.io.depth_files.depth_m_from_units`.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction

from lingbot_depth_ros.io.depth_files import KITTI_M_PER_UNIT

#: the help text's common part (what the value means, KITTI's value, the default's range limit)
SCALE_HELP = ("metres per stored unit of 16-bit depth files (float .npy/.tif are metres): default 0.001 "
              f"(millimetres, at most 65.5 m); KITTI velodyne_raw / groundtruth PNGs: 1/256 (= {KITTI_M_PER_UNIT})")


def depth_scale(text: str) -> float:
    """A scale [m per unit] from ``0.001``, ``1e-3`` or a fraction ``1/256``; finite and > 0.

    Raises:
        argparse.ArgumentTypeError: not a number or fraction, or not finite and > 0.
    """
    try:
        value = float(Fraction(text.strip())) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"must be metres per stored unit, e.g. 0.001 or 1/256, got {text!r}") \
            from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 of metres per stored unit, got {text!r}")
    return value


def add_depth_scale_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *flags: str,
                             applies_to: str, default_note: str = "") -> None:
    """Register ``--sparse-scale`` (and alias ``flags``) on ``parser``, dest ``sparse_scale``, default None
    (= millimetres, or the layout's own convention where ``default_note`` says so)."""
    parser.add_argument("--sparse-scale", *flags, dest="sparse_scale", type=depth_scale, default=None,
                        metavar="M_PER_UNIT",
                        help=f"{applies_to}: {SCALE_HELP}{default_note}. Without it, a 16-bit file whose path names "
                             "KITTI depth (velodyne_raw, groundtruth, proj_depth) is refused")


__all__ = ["SCALE_HELP", "add_depth_scale_argument", "depth_scale"]

"""xyzrgb PointCloud2 packing (issue 15 §7): the one-column colour write is bit-identical to the old
byte-by-byte packing, for organized and unorganized clouds, odd sizes and NaN points."""

from __future__ import annotations

import array
import sys

import numpy as np
import pytest

from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_fields, unpack_rgb
from lingbot_depth_ros.ros.cloud_codec import pack_rgb, pack_rgb_uint32, xyz_to_pointcloud2


def legacy_data(xyz: np.ndarray, rgb: np.ndarray) -> bytes:
    """The PointCloud2 data the packing before issue 15 wrote: colour bytes channel by channel."""
    height, width = (xyz.shape[0], xyz.shape[1]) if xyz.ndim == 3 else (1, xyz.shape[0])
    data = array.array("B", b"\0") * (height * width * 16)
    points = np.frombuffer(data, dtype=np.float32).reshape(height, width, 4)
    points[..., :3] = xyz.reshape(height, width, 3)
    rgba_bytes = points.view(np.uint8).reshape(height, width, 16)
    colours = rgb.reshape(height, width, 3)
    big = sys.byteorder == "big"
    for k, channel in enumerate((0, 1, 2) if big else (2, 1, 0)):
        rgba_bytes[..., (13 if big else 12) + k] = colours[..., channel]
    rgba_bytes[..., 12 if big else 15] = 0
    return bytes(data)


@pytest.mark.parametrize("shape", [(480, 640), (240, 320), (7, 13), (1, 1)])
def test_organized_xyzrgb_is_bit_identical_to_the_old_packing(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    xyz = rng.normal(size=shape + (3,)).astype(np.float32)
    xyz[rng.random(shape) < 0.2] = np.nan  # rejected points of an organized cloud
    rgb = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    rgb[0, 0] = (255, 255, 255)
    msg = xyz_to_pointcloud2(xyz, None, rgb)
    assert bytes(msg.data) == legacy_data(xyz, rgb)
    assert (msg.height, msg.width, msg.point_step) == (shape[0], shape[1], 16)
    assert np.array_equal(unpack_rgb(pointcloud_fields(msg, ("rgb",))[:, 0].astype(np.float32)),
                          rgb.reshape(-1, 3))


def test_unorganized_and_strided_inputs_are_bit_identical() -> None:
    rng = np.random.default_rng(5)
    xyz = rng.normal(size=(1000, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (1000, 3), dtype=np.uint8)
    assert bytes(xyz_to_pointcloud2(xyz, None, rgb).data) == legacy_data(xyz, rgb)
    # a non-contiguous view (cloud.stride slices) packs the same as its copy
    big_rgb = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    big_xyz = rng.normal(size=(60, 80, 3)).astype(np.float32)
    view_rgb, view_xyz = big_rgb[::3, ::2], big_xyz[::3, ::2]
    assert bytes(xyz_to_pointcloud2(view_xyz, None, view_rgb).data) == \
        legacy_data(np.ascontiguousarray(view_xyz), np.ascontiguousarray(view_rgb))


def test_packed_word_is_0x00rrggbb() -> None:
    rgb = np.array([[0x12, 0x34, 0x56], [255, 0, 1]], dtype=np.uint8)
    assert pack_rgb_uint32(rgb).tolist() == [0x00123456, 0x00FF0001]
    assert pack_rgb(rgb).view(np.uint32).tolist() == [0x00123456, 0x00FF0001]

"""``--write bag``: a copy of each input bag with the node's outputs added, written with ``rosbags``. No rclpy.

For every colour image of the input bag that has a depth file, the copy gets, at the image's log time
and with its header: ``<ns>/depth/image`` (32FC1 [m], NaN = invalid, the NPY written by the worker),
``<ns>/depth/camera_info`` (what the node publishes, from the same camera model,
:mod:`lingbot_depth_ros.messages.camera_model`: K with binning/ROI applied, P = [K | 0] for a raw image or P
for a rectified one, D and R carried over) and ``<ns>/points`` (the node's cloud settings), where ``<ns>`` is the
namespace of the image topic (``/camera/image`` -> ``/camera``).
Every message of the input is copied unchanged. The bag is written to a temporary folder and renamed,
so an existing ``<out>/<input>/bag`` is complete (and is not rewritten on resume).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.batch.sources import BagTopics, bag_layout
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.messages.camera_model import camera_geometry
from lingbot_depth_ros.messages.header import stamp_ns
from lingbot_depth_ros.messages.image import rgb_from_message
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings

_FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


def output_namespace(image_topic: str) -> str:
    """``/camera/image`` or ``/camera/image/compressed`` -> ``/camera`` (``""`` at the root)."""
    base = image_topic[: -len("/compressed")] if image_topic.endswith("/compressed") else image_topic
    return base.rsplit("/", 1)[0]


def _pointcloud(xyz: np.ndarray, rgb: np.ndarray | None, header: Any) -> Any:
    """rosbags PointCloud2 laid out as the node's (x, y, z float32 [+ packed rgb float32]; organized or not)."""
    from lingbot_depth_ros.bags.messages import POINTCLOUD2_TYPE, TYPESTORE

    xyz = np.asarray(xyz, dtype=np.float32)
    height, width = (xyz.shape[0], xyz.shape[1]) if xyz.ndim == 3 else (1, xyz.shape[0])
    channels = 3 if rgb is None else 4
    points = np.zeros((height, width, channels), dtype="<f4")
    points[..., :3] = xyz.reshape(height, width, 3)
    names = ["x", "y", "z"] + (["rgb"] if rgb is not None else [])
    if rgb is not None:
        c = np.asarray(rgb, dtype=np.uint32).reshape(height, width, 3)
        points.view("<u4")[..., 3] = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    field = TYPESTORE.types["sensor_msgs/msg/PointField"]
    return TYPESTORE.types[POINTCLOUD2_TYPE](
        header=header, height=height, width=width,
        fields=[field(name=n, offset=4 * i, datatype=_FLOAT32, count=1) for i, n in enumerate(names)],
        is_bigendian=False, point_step=4 * channels, row_step=4 * channels * width,
        data=points.view(np.uint8).reshape(-1), is_dense=bool(np.isfinite(xyz).all()))


def _copy_connection(writer: Any, connection: Any, typestore: Any) -> Any:
    """The input's connection in the output: its own message definition when the bag carries one (custom
    types), else the Jazzy typestore's."""
    msgdef = getattr(connection.msgdef, "data", None)
    if msgdef:
        try:
            return writer.add_connection(connection.topic, connection.msgtype, msgdef=msgdef,
                                         rihs01=connection.digest)
        except Exception:  # noqa: BLE001 - an unusable stored definition: fall back to the typestore
            pass
    return writer.add_connection(connection.topic, connection.msgtype, typestore=typestore)


def write_output_bag(input_path: str, depth_dir: str, target: str, values: Mapping[str, Any],
                     topics: BagTopics) -> int:
    """Copy the bag at ``input_path`` to ``target`` with depth/image, depth/camera_info and points added for
    every image with a ``<stamp_ns>.npy`` in ``depth_dir``; returns the number of depth images added."""
    from rosbags.rosbag2 import Writer

    from lingbot_depth_ros.bags.files import open_reader
    from lingbot_depth_ros.bags.messages import (
        CAMERA_INFO_TYPE,
        IMAGE_TYPE,
        POINTCLOUD2_TYPE,
        TYPESTORE,
        camera_info_fields_message,
        image_message,
    )

    target_path = Path(target)
    if target_path.exists():
        return -1
    layout = bag_layout(Path(input_path), topics)
    ns = output_namespace(layout["image"])
    settings = OutputSettings.from_params(values)
    rectified = bool(values["camera.rectified"])
    tmp = target_path.with_name(f".{target_path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    reader = open_reader(input_path)
    infos: dict[int, Any] = {}
    added = 0
    try:
        writer = Writer(tmp, version=9)
        writer.open()
        try:
            copies = {c.id: _copy_connection(writer, c, TYPESTORE) for c in reader.connections}
            outs = {name: writer.add_connection(f"{ns}/{name}", kind, typestore=TYPESTORE) for name, kind in
                    (("depth/image", IMAGE_TYPE), ("depth/camera_info", CAMERA_INFO_TYPE),
                     ("points", POINTCLOUD2_TYPE))}
            for connection, log_ns, data in reader.messages():
                writer.write(copies[connection.id], log_ns, data)
                if connection.topic == layout["info"]:
                    msg = TYPESTORE.deserialize_cdr(bytes(data), connection.msgtype)
                    infos[stamp_ns(msg)] = msg
                if connection.topic != layout["image"]:
                    continue
                image: Any = TYPESTORE.deserialize_cdr(bytes(data), connection.msgtype)
                depth_file = Path(depth_dir) / f"{stamp_ns(image)}.npy"
                info = infos.get(stamp_ns(image))
                if not depth_file.is_file() or info is None:
                    continue
                depth = np.load(depth_file)
                height, width = depth.shape
                header = image.header
                geometry = camera_geometry(info, width, height, rectified)
                writer.write(outs["depth/image"], log_ns, TYPESTORE.serialize_cdr(
                    image_message(depth, "32FC1", stamp_ns(image), header.frame_id), IMAGE_TYPE))
                writer.write(outs["depth/camera_info"], log_ns, TYPESTORE.serialize_cdr(
                    camera_info_fields_message(geometry.info, header), CAMERA_INFO_TYPE))
                if settings.cloud:
                    rgb = rgb_from_message(image)
                    cloud = DepthPipeline.cloud(depth, rgb, geometry.intrinsics, settings)
                    writer.write(outs["points"], log_ns, TYPESTORE.serialize_cdr(
                        _pointcloud(cloud.xyz, cloud.rgb, header), POINTCLOUD2_TYPE))
                added += 1
        finally:
            writer.close()
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        reader.close()
    tmp.rename(target_path)
    return added


def write_output_bags(ray: Any, out_dir: Path, bag_inputs: Mapping[str, str], values: Mapping[str, Any],
                      topics: BagTopics) -> dict[str, str]:
    """One Ray task per bag input (bags in parallel); input id -> error of those that failed."""
    task = ray.remote(num_cpus=1)(write_output_bag)
    futures = {input_id: task.remote(path, str(out_dir / input_id / "depth_npy"), str(out_dir / input_id / "bag"),
                                     dict(values), topics) for input_id, path in bag_inputs.items()}
    errors = {}
    for input_id, future in futures.items():
        try:
            ray.get(future)
        except Exception as exc:  # noqa: BLE001 - reported per input
            cause = getattr(exc, "cause", exc)
            errors[input_id] = f"output bag: {cause}" if isinstance(cause, InputError) else f"output bag: {exc}"
    return errors

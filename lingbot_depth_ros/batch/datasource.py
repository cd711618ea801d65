"""The read side of a batch run as a Ray Data datasource: one read task per unit (an input's file, and for bags
a time range of it), each producing one block of that unit's frames, read in parallel by Ray Data's read
tasks (``--read data``).

A block is a table with one row per frame: ``unit`` (the unit key), ``error`` ("" or why the unit could not be
read: then the block has that one row and no frame columns, so a corrupt unit is reported, not fatal), ``index``,
``name``, ``stamp_ns``,
``rgb`` (H, W, 3) uint8, ``sparse_m`` / ``gt_m`` (H, W) float32 [m] (a (0, 0) array = none), ``intrinsics``
(fx, fy, cx, cy [px]). :func:`frames_from_block` turns it back into the :class:`Frame` objects the worker
processes, so both read paths feed the same per-frame code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from lingbot_depth_ros.batch.sources import BagTopics, DatasetOptions, Frame, Unit, pose_options, read_unit
from lingbot_depth_ros.errors import InputError, LingbotDepthError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

_NONE = np.zeros((0, 0), np.float32)


def frames_to_batch(unit: Unit, frames: Sequence[Frame]) -> dict[str, np.ndarray]:
    """Column arrays (one row per frame) of a unit's frames."""
    def column(arrays: list[np.ndarray]) -> np.ndarray:
        if len({a.shape for a in arrays}) == 1:
            return np.stack(arrays)
        out = np.empty(len(arrays), dtype=object)  # variable shapes (no sparse/GT on some frames)
        out[:] = arrays
        return out

    return {
        "unit": np.array([unit.key] * len(frames)),
        "error": np.array([""] * len(frames)),
        "index": np.array([f.index for f in frames], dtype=np.int64),
        "name": np.array([f.name for f in frames]),
        "stamp_ns": np.array([f.stamp_ns for f in frames], dtype=np.int64),
        "rgb": column([f.rgb for f in frames]),
        "sparse_m": column([_NONE if f.sparse_m is None else f.sparse_m for f in frames]),
        "gt_m": column([_NONE if f.gt_m is None else f.gt_m for f in frames]),
        "intrinsics": np.array([(f.intrinsics.fx, f.intrinsics.fy, f.intrinsics.cx, f.intrinsics.cy)
                                for f in frames], dtype=np.float64).reshape(len(frames), 4),
        "world_T_camera": column([_NONE if f.world_T_camera is None else f.world_T_camera for f in frames]),
        "pose_problem": np.array([f.pose_problem or "" for f in frames]),
    }


def unit_key_of(block: Any) -> str:
    """The unit key of a block made by :func:`unit_datasource`."""
    from ray.data.block import BlockAccessor

    return str(BlockAccessor.for_block(block).to_batch_format("numpy")["unit"][0])


def frames_from_block(block: Any) -> tuple[str, list[Frame]]:
    """(unit key, frames) of a block made by :func:`unit_datasource`.

    Raises:
        InputError: the read task could not read the unit (its message).
    """
    from ray.data.block import BlockAccessor

    batch = BlockAccessor.for_block(block).to_batch_format("numpy")
    if str(batch["error"][0]):
        raise InputError(str(batch["error"][0]))
    frames = []
    for i in range(len(batch["index"])):
        rgb = np.asarray(batch["rgb"][i])
        height, width = rgb.shape[:2]
        fx, fy, cx, cy = (float(x) for x in batch["intrinsics"][i])
        sparse, gt = np.asarray(batch["sparse_m"][i]), np.asarray(batch["gt_m"][i])
        pose = np.asarray(batch["world_T_camera"][i], np.float64)
        frames.append(Frame(index=int(batch["index"][i]), name=str(batch["name"][i]),
                            stamp_ns=int(batch["stamp_ns"][i]), rgb=rgb,
                            intrinsics=CameraIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height),
                            sparse_m=sparse if sparse.size else None, gt_m=gt if gt.size else None,
                            world_T_camera=pose if pose.size else None,
                            pose_problem=str(batch["pose_problem"][i]) or None))
    return str(batch["unit"][0]) if len(batch["unit"]) else "", frames


class UnitDatasource:
    """Built lazily (ray.data imported only on this path): see :func:`unit_datasource`."""


def unit_datasource(units: Sequence[Unit], topics: BagTopics, dataset: DatasetOptions, values: dict[str, Any]
                    ) -> Any:
    """A ``ray.data.Datasource`` whose read tasks are ``units`` (one block per unit, frames in order), read
    with the node parameters ``values`` (camera.rectified, slop_s, LiDAR projection)."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockAccessor, BlockMetadata

    class _UnitDatasource(Datasource, UnitDatasource):
        def __init__(self) -> None:
            self.units = list(units)

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[ReadTask]:
            return [ReadTask(_reader(unit), BlockMetadata(num_rows=unit.stop - unit.start, size_bytes=None,
                                                          exec_stats=None, input_files=(unit.path,)))
                    for unit in self.units]

    def _reader(unit: Unit) -> Any:
        def read() -> Iterator[Any]:
            lidar = None
            if values["sparse_input"] == "pointcloud":
                from lingbot_depth_ros.batch.lidar import LidarProjector

                lidar = LidarProjector(values)
            try:
                frames = list(read_unit(unit, topics, dataset, rectified=bool(values["camera.rectified"]),
                                        slop_s=float(values["slop_s"]), lidar=lidar,
                                        poses=pose_options(values, topics, dataset)))
                if not frames:
                    raise InputError(f"unit {unit.key}: no frames read")
            except Exception as exc:  # noqa: BLE001 - a corrupt unit is reported by the runner, others go on
                message = str(exc) if isinstance(exc, LingbotDepthError) else f"{type(exc).__name__}: {exc}"
                yield BlockAccessor.batch_to_block({"unit": np.array([unit.key]), "error": np.array([message])})
                return
            yield BlockAccessor.batch_to_block(frames_to_batch(unit, frames))
        return read

    return _UnitDatasource()

"""One batch worker: holds one estimator and runs the node's pipeline over the frames of a unit. No Ray here
(the runner wraps :class:`UnitProcessor` in a Ray actor; the bench and tests also call it directly).

Per frame it does what the node does with a synchronized set (``DepthNode._process``): the node's mode
rules (:mod:`lingbot_depth_ros.pipeline.modes`: auto runs completion with sparse depth, else monocular when
the estimator can; monocular + align uses the sparse depth only for the fit), the same drop reasons, then
:meth:`DepthPipeline.process` with the node's output settings. Files are written to a temporary name and
renamed, so a worker that dies leaves no half-written file and a retried unit rewrites the same names.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.batch.memory import retain_freed_memory
from lingbot_depth_ros.batch.sources import BagTopics, DatasetOptions, Frame, Unit, read_unit
from lingbot_depth_ros.errors import InputError, LingbotDepthError
from lingbot_depth_ros.estimators import check_output_alignment, create_estimator
from lingbot_depth_ros.evaluation.frames import score_frame
from lingbot_depth_ros.geometry.scale_alignment import AlignmentRejected
from lingbot_depth_ros.io.depth_files import save_depth_png_mm
from lingbot_depth_ros.params.node import estimator_options
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, FrameResult, OutputSettings
from lingbot_depth_ros.pipeline.lidar_guard import LidarDisagreement, split_for_guard
from lingbot_depth_ros.pipeline.modes import check_mode, estimator_gets_sparse, needs_sparse


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs: node parameter values, where to write, how to read inputs."""

    values: Mapping[str, Any]
    out_dir: str
    topics: BagTopics = BagTopics()
    dataset: DatasetOptions = DatasetOptions()
    write_npy: bool = True
    write_png: bool = True
    #: frames decoded ahead by a reader thread (0: read in line). Pays off when the model runs on a GPU;
    #: measured no gain for CPU workers (bench/bench_batch.py), so the runner enables it for GPU workers only.
    prefetch_frames: int = 0
    #: write + score each frame on a worker thread, overlapping the next frame's read and estimate. Measured
    #: slower for CPU workers on a busy 2-core machine (bench/bench_batch.py: GIL and core contention), so the
    #: runner enables it for GPU workers only, where the main thread waits on the GPU.
    finish_thread: bool = False


@dataclass
class UnitResult:
    """What a unit produced: per-frame records (index, name, stamp_ns, status, metrics, metrics_all,
    timings [s]), the worker that ran it and its busy time [s]."""

    key: str
    input_id: str
    start: int
    stop: int
    frames: list[dict[str, Any]] = field(default_factory=list)
    worker: str = ""
    busy_s: float = 0.0
    read_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of the worker process (all its threads) during the unit [s]
    started_at: float = 0.0
    finished_at: float = 0.0


def atomic_save(path: Path, write: Any) -> None:
    """Write ``path`` through ``write(tmp_path)`` then rename over it (readers never see a partial file)."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def remove_temporary_files(out_dir: Path) -> int:
    """Delete the temporary files (``.<name>.tmp*``) under ``out_dir`` that a worker killed between writing and
    renaming left behind; call it only while no worker writes there. How many were removed."""
    stale = [p for p in out_dir.rglob(".*.tmp*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _prefetch(frames: Iterator[Frame], depth: int) -> Iterator[tuple[Frame, float]]:
    """Read frames in a background thread (decode overlaps estimation) when ``depth`` > 0, else in line;
    yields (frame, seconds spent waiting for it)."""
    if depth <= 0:
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                return
            yield frame, time.perf_counter() - t0
    slot: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()

    def reader() -> None:
        try:
            for frame in frames:
                slot.put(frame)
            slot.put(done)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            slot.put(exc)

    threading.Thread(target=reader, name="unit_reader", daemon=True).start()
    while True:
        t0 = time.perf_counter()
        item = slot.get()
        waited = time.perf_counter() - t0
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item, waited


class UnitProcessor:
    """Holds one estimator (built from the node parameters) and processes units."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        retain_freed_memory()  # per-frame temporaries reused instead of page-faulted in again (memory.py)
        v = config.values
        name = v["estimator"]
        self.estimator = create_estimator(name, **estimator_options(name, v))
        check_mode(self.estimator, v["mode"])
        check_output_alignment(self.estimator, v["align_to_sparse"])  # relative outputs need a fit
        self.settings = OutputSettings.from_params(v)
        self.pipeline = DepthPipeline(self.estimator, self.settings)
        self.lidar = None
        #: writes and scores frame i while frame i+1 is read and estimated (PNG/zlib, file I/O and most numpy
        #: release the GIL): with a GPU model the writing and scoring hide behind the model
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix="unit_finisher") if config.finish_thread \
            else None
        if v["sparse_input"] == "pointcloud":
            from lingbot_depth_ros.batch.lidar import LidarProjector

            self.lidar = LidarProjector(v)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def ping(self) -> str:
        """The worker's id (host:pid); a round trip proves the actor is up."""
        return self.worker_id

    def run_frame(self, frame: Frame) -> FrameResult:
        """The node's per-frame path (mode rules, drop reasons, pipeline); InputError = the node drops it."""
        v = self.config.values
        mode, sparse, supported = v["mode"], frame.sparse_m, self.estimator.supported_modes
        if sparse is not None and not (sparse > 0).any():  # NaN compares False: no valid measurement at all
            raise InputError("sparse depth has no valid measurement")
        if sparse is None and needs_sparse(mode, supported, False, v["align_to_sparse"]):
            raise InputError(f"no sparse depth for this frame (mode {mode}, estimator '{self.estimator.name}')")
        estimator_sparse = sparse if estimator_gets_sparse(mode, supported, sparse is not None) else None
        # the LiDAR agreement guard's hold-out, drawn with the frame stamp as the node draws it
        split = split_for_guard(sparse, estimator_sparse, v["align_to_sparse"] != "off", self.estimator,
                                self.settings.guard, frame.stamp_ns)
        return self.pipeline.process(frame.rgb, split.estimator_sparse_m, frame.intrinsics, self.settings,
                                     split.align_sparse_m, guard=split.guard)

    def process_unit(self, unit: Unit) -> UnitResult:
        """Read ``unit`` here, then :meth:`process_frames`. Raises InputError when it cannot be read at all."""
        v = self.config.values
        frames = read_unit(unit, self.config.topics, self.config.dataset, rectified=bool(v["camera.rectified"]),
                           slop_s=float(v["slop_s"]), lidar=self.lidar)
        return self.process_frames(unit, frames)

    def process_block(self, unit: Unit, block: Any) -> UnitResult:
        """:meth:`process_frames` of a block read by the Ray Data datasource (``--read data``)."""
        from lingbot_depth_ros.batch.datasource import frames_from_block

        t0 = time.perf_counter()
        key, frames = frames_from_block(block)
        if key != unit.key:
            raise InputError(f"block of unit {key} given for unit {unit.key}")
        decode_s = time.perf_counter() - t0
        result = self.process_frames(unit, iter(frames))
        result.read_s += decode_s  # the block's decode (the read itself ran in a Ray Data read task)
        return result

    def _finish(self, out: Path, frame: Frame, depth_m: np.ndarray, record: dict[str, Any],
                confidence: np.ndarray | None = None) -> None:
        """Write a frame's NPY/PNG (and with ``confidence`` on, its confidence_npy/<frame>.npy: (H, W) float32
        0..1, NaN where the depth is NaN) and score it into ``record`` (on the finisher thread when there is one)."""
        if self.config.write_npy:
            atomic_save(out / "depth_npy" / f"{frame.name}.npy", lambda p: np.save(p, depth_m))
            if confidence is not None:
                atomic_save(out / "confidence_npy" / f"{frame.name}.npy", lambda p: np.save(p, confidence))
        if self.config.write_png:
            atomic_save(out / "depth_png" / f"{frame.name}.png", lambda p: save_depth_png_mm(p, depth_m))
        record.update(metrics=score_frame(depth_m, frame.gt_m),
                      metrics_all=score_frame(depth_m, frame.gt_m, invalid="nearest"))

    def process_frames(self, unit: Unit, frames: Iterator[Frame]) -> UnitResult:
        """Estimate, write and score every frame of ``unit`` (``frames``); frames the node would drop are
        recorded as dropped with the reason. Raises InputError when the unit cannot be read at all."""
        out = Path(self.config.out_dir) / unit.input_id
        (out / "depth_npy").mkdir(parents=True, exist_ok=True)
        (out / "depth_png").mkdir(parents=True, exist_ok=True)
        if self.settings.confidence and self.config.write_npy:
            (out / "confidence_npy").mkdir(parents=True, exist_ok=True)
        result = UnitResult(unit.key, unit.input_id, unit.start, unit.stop, worker=self.worker_id,
                            started_at=time.time())
        t_unit, cpu_unit = time.perf_counter(), time.process_time()
        pending: list[Future[None]] = []
        for frame, waited in _prefetch(frames, self.config.prefetch_frames):
            result.read_s += waited
            record: dict[str, Any] = {"index": frame.index, "name": frame.name, "stamp_ns": frame.stamp_ns}
            try:
                output = self.run_frame(frame)
            except LingbotDepthError as exc:
                record.update(status="dropped", reason=str(exc))
                if isinstance(exc, AlignmentRejected):  # the node's alignment_rejected drop: which test failed
                    record["alignment_rejected"] = exc.reason
                if isinstance(exc, LidarDisagreement):  # the node's lidar_disagreement drop (guard.action drop)
                    record["lidar_agreement"] = exc.agreement.as_dict()
                result.frames.append(record)
                continue
            record.update(status="ok", timings_s=output.timings_s)
            if output.lidar_agreement is not None:  # the LiDAR agreement guard's figures (README)
                record["lidar_agreement"] = output.lidar_agreement.as_dict()
            if output.alignment_error:
                record["alignment_error"] = output.alignment_error
            result.frames.append(record)
            if self._finisher is None:
                self._finish(out, frame, output.depth_m, record, output.confidence)
                continue
            while len(pending) >= 2:  # at most two frames' outputs held while the next one is estimated
                pending.pop(0).result()
            pending.append(self._finisher.submit(self._finish, out, frame, output.depth_m, record, output.confidence))
        for future in pending:  # every file renamed into place before the unit counts as finished
            future.result()
        result.busy_s = time.perf_counter() - t_unit - result.read_s
        result.cpu_s = time.process_time() - cpu_unit
        if len(result.frames) != unit.stop - unit.start:
            raise InputError(f"unit {unit.key}: read {len(result.frames)} frames, expected {unit.stop - unit.start}")
        result.finished_at = time.time()
        return result

"""One batch worker: holds one estimator and runs the node's pipeline over the frames of a unit. No Ray here
(the runner wraps :class:`UnitProcessor` in a Ray actor; the bench and tests also call it directly).

Per frame it does what the node does with a synchronized set (``DepthNode._process``): the node's mode
rules (:mod:`lingbot_depth_ros.pipeline.modes`: auto runs completion with sparse depth, else monocular when
the estimator can; monocular + align uses the sparse depth only for the fit), the same drop reasons, then
:meth:`DepthPipeline.process` with the node's output settings.

Each input is one sequence with one :class:`~lingbot_depth_ros.pipeline.temporal_stage.TemporalStage` (the
node's per-camera temporal state): ``temporal.lidar_sweeps`` > 1 densifies the sparse depth before the estimator,
``temporal.enabled`` filters the depth (and confidence) after it, with the frames' poses (``temporal.pose_source``:
a bag's pose / odometry / tf messages, a folder's pose file; none = a standing camera). The stage lives on in the
worker from one unit to the next unit of the same input (the runner gives a worker an input's units in order when
the temporal stage is on); a unit that does not continue the worker's last one starts the history again (a counted
reset, "sequence split"). Every unit also reports the temporal metrics of its frames
(:mod:`lingbot_depth_ros.evaluation.temporal_metrics`). Files are written to a temporary name and
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
from lingbot_depth_ros.batch.sources import BagTopics, DatasetOptions, Frame, Unit, pose_options, read_unit
from lingbot_depth_ros.errors import InputError, LingbotDepthError
from lingbot_depth_ros.estimators import check_output_alignment, create_estimator
from lingbot_depth_ros.evaluation.frames import score_frame
from lingbot_depth_ros.evaluation.temporal_metrics import TemporalMetrics
from lingbot_depth_ros.geometry.scale_alignment import AlignmentRejected
from lingbot_depth_ros.io.depth_files import save_depth_png_mm
from lingbot_depth_ros.params.node import estimator_options
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, FrameResult, OutputSettings
from lingbot_depth_ros.pipeline.lidar_guard import LidarDisagreement, split_for_guard
from lingbot_depth_ros.pipeline.modes import check_mode, estimator_gets_sparse, needs_sparse
from lingbot_depth_ros.pipeline.temporal_stage import (
    STANDING,
    FramePose,
    TemporalConfig,
    TemporalStage,
    filter_device,
)

#: inputs of independent frames (dataset samples, not a recording): temporal metrics only with a pose file
SINGLE_FRAME_KINDS = ("nyu", "kitti")
#: reset reason: a unit that does not continue the worker's last one (resumed run, retried unit, another worker)
SEQUENCE_SPLIT = "sequence split"


def temporal_active(values: Mapping[str, Any]) -> bool:
    """The node parameters ``values`` turn the temporal filter or the multi-sweep LiDAR on: frames of one input
    must then go through one worker in order."""
    return bool(values["temporal.enabled"]) or int(values["temporal.lidar_sweeps"]) > 1


@dataclass
class SequenceState:
    """One input's temporal state on a worker: the stage, the metrics, the next frame index it expects."""

    input_id: str
    next_start: int
    stage: TemporalStage
    metrics: TemporalMetrics | None = None


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
    #: measure the temporal metrics of each input (evaluation/temporal_metrics.py: two forward warps per frame,
    #: ~30-60 ms per 640x480 frame on this 2-core machine); the batch turns it on with the temporal stage
    temporal_metrics: bool = False


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
    #: the unit's temporal record: ``resets`` (reason -> count), ``announcements`` (each run of resets, once),
    #: ``metrics`` (:meth:`TemporalMetrics.part` of its frames; {} for a dataset of single frames without poses),
    #: ``posed`` (the frames came with poses), ``sequence`` (the frames are a sequence: metrics were taken)
    temporal: dict[str, Any] = field(default_factory=dict)


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
        self.temporal = TemporalConfig.from_params(v)
        self.poses = pose_options(v, config.topics, config.dataset)
        self.sequence: SequenceState | None = None

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
                           slop_s=float(v["slop_s"]), lidar=self.lidar, poses=self.poses)
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

    def _sequence_for(self, unit: Unit, record: dict[str, Any]) -> SequenceState:
        """The temporal state continued from the worker's last unit when ``unit`` follows it, else a new one
        (a unit after the input's first one: a ``sequence split`` reset in ``record``)."""
        seq = self.sequence
        if seq is not None and seq.input_id == unit.input_id and seq.next_start == unit.start:
            return seq
        # the filter's history on the estimator's CUDA device (LingBot-Depth on a GPU), else numpy, as in the node
        self.sequence = seq = SequenceState(unit.input_id, unit.start, TemporalStage(filter_device(self.estimator)))
        if unit.start > 0 and temporal_active(self.config.values):
            record["resets"][SEQUENCE_SPLIT] = 1
            record["announcements"].append(
                f"frame {unit.start}: temporal: history starts again ({SEQUENCE_SPLIT}: this unit ran apart from the "
                "frames before it: a resumed run, a retried unit or another worker)")
        return seq

    def _temporal_frame(self, seq: SequenceState, frame: Frame) -> tuple[FramePose, float]:
        """The frame's pose as the stage takes it and its stamp [s]; densifies ``frame.sparse_m`` in place with
        the older LiDAR sweeps (``temporal.lidar_sweeps`` > 1)."""
        config = self.temporal
        pose = FramePose(frame.world_T_camera, frame.pose_problem) if config.pose_source != "none" else STANDING
        stamp_s = frame.stamp_ns / 1e9
        header = frame.extras.get("header")
        if header is not None and (config.enabled or config.sweeps.sweeps > 1):   # a bag: another camera resets
            seq.stage.check_frames(str(header.frame_id), pose)
        if config.sweeps.sweeps > 1 and frame.sparse_m is not None:
            sparse = np.nan_to_num(frame.sparse_m, nan=0.0)
            dense = seq.stage.densify(sparse, frame.intrinsics, pose, stamp_s, config)
            frame.sparse_m = np.where(dense > 0, dense, np.nan).astype(np.float32)
        return pose, stamp_s

    def _smooth(self, seq: SequenceState, frame: Frame, pose: FramePose, stamp_s: float, depth_m: np.ndarray,
                confidence: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame's depth and confidence filtered with the history (``temporal.enabled``), else as they are."""
        result = seq.stage.smooth(depth_m, confidence, frame.intrinsics, pose, stamp_s, self.temporal)
        if result is None:
            return depth_m, confidence
        depth = np.array(result.depth_m, dtype=np.float32, copy=True)
        with np.errstate(invalid="ignore"):
            depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
        if confidence is None:
            return depth, None
        smoothed = result.confidence if result.confidence is not None else confidence
        return depth, np.where(np.isfinite(depth), np.nan_to_num(smoothed, nan=0.0), np.nan).astype(np.float32)

    def _temporal_announce(self, seq: SequenceState, frame: Frame, record: dict[str, Any],
                           unit_record: dict[str, Any]) -> None:
        message = seq.stage.take_announcement()
        if message is not None:
            record["temporal_reset"] = message
            unit_record["announcements"].append(f"frame {frame.index} ({frame.name}): {message}")

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
        temporal: dict[str, Any] = {"resets": {}, "announcements": [], "posed": False}
        seq = self._sequence_for(unit, temporal)
        resets_before = dict(seq.stage.resets)
        for frame, waited in _prefetch(frames, self.config.prefetch_frames):
            result.read_s += waited
            record: dict[str, Any] = {"index": frame.index, "name": frame.name, "stamp_ns": frame.stamp_ns}
            posed = frame.world_T_camera is not None or frame.pose_problem is not None
            if seq.metrics is None and self.config.temporal_metrics and (posed or unit.kind not in SINGLE_FRAME_KINDS):
                seq.metrics = TemporalMetrics(posed=posed)
            seq.next_start = frame.index + 1
            try:
                pose, stamp_s = self._temporal_frame(seq, frame)
                self._temporal_announce(seq, frame, record, temporal)
                output = self.run_frame(frame)
            except LingbotDepthError as exc:
                record.update(status="dropped", reason=str(exc))
                if isinstance(exc, AlignmentRejected):  # the node's alignment_rejected drop: which test failed
                    record["alignment_rejected"] = exc.reason
                if isinstance(exc, LidarDisagreement):  # the node's lidar_disagreement drop (guard.action drop)
                    record["lidar_agreement"] = exc.agreement.as_dict()
                result.frames.append(record)
                continue
            t_temporal = time.perf_counter()
            depth_m, confidence = self._smooth(seq, frame, pose, stamp_s, output.depth_m, output.confidence)
            self._temporal_announce(seq, frame, record, temporal)
            timings = dict(output.timings_s)
            if self.temporal.enabled:
                timings["temporal"] = time.perf_counter() - t_temporal
            if seq.metrics is not None:
                seq.metrics.add(frame.index, depth_m, frame.intrinsics, frame.world_T_camera, frame.gt_m)
            record.update(status="ok", timings_s=timings)
            if output.lidar_agreement is not None:  # the LiDAR agreement guard's figures (README)
                record["lidar_agreement"] = output.lidar_agreement.as_dict()
            if output.alignment_error:
                record["alignment_error"] = output.alignment_error
            result.frames.append(record)
            if self._finisher is None:
                self._finish(out, frame, depth_m, record, confidence)
                continue
            while len(pending) >= 2:  # at most two frames' outputs held while the next one is estimated
                pending.pop(0).result()
            pending.append(self._finisher.submit(self._finish, out, frame, depth_m, record, confidence))
        for future in pending:  # every file renamed into place before the unit counts as finished
            future.result()
        for reason, count in seq.stage.resets.items():
            if count > resets_before.get(reason, 0):
                temporal["resets"][reason] = temporal["resets"].get(reason, 0) + count - resets_before.get(reason, 0)
        temporal["posed"] = bool(seq.metrics is not None and seq.metrics.posed)
        temporal["sequence"] = seq.metrics is not None
        temporal["measured"] = self.config.temporal_metrics
        temporal["metrics"] = seq.metrics.part() if seq.metrics is not None else {}
        result.temporal = temporal
        result.busy_s = time.perf_counter() - t_unit - result.read_s
        result.cpu_s = time.process_time() - cpu_unit
        if len(result.frames) != unit.stop - unit.start:
            raise InputError(f"unit {unit.key}: read {len(result.frames)} frames, expected {unit.stop - unit.start}")
        result.finished_at = time.time()
        return result

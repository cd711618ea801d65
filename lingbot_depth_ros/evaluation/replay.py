"""The ROS-free half of ``lingbot-depth-eval``: load an evaluation bag, settings of a replay, score
what the node sent back, the LiDAR extrinsics as node parameters, saved depth outputs. No rclpy.

The ROS half (publishing, recording) is :mod:`lingbot_depth_ros.ros.replay_node`; the orchestration
(node processes, replays, report) :mod:`lingbot_depth_ros.replay.evaluate`; the command line
:mod:`lingbot_depth_ros.cli.eval`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.bags.files import bag_topics, read_frames, read_raw
from lingbot_depth_ros.bags.messages import CAMERA_INFO_TYPE, IMAGE_TYPE, POINTCLOUD2_TYPE, TYPESTORE
from lingbot_depth_ros.bags.stamps import cdr_stamp_ns
from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.alignment import ALIGNMENT_MODES, align_prediction
from lingbot_depth_ros.evaluation.frames import FrameInputs, FrameOutcome, RunResult, score_frame
from lingbot_depth_ros.evaluation.report import ReportPaths
from lingbot_depth_ros.geometry.lidar_projection import lidar_to_sparse_depth, projection_model
from lingbot_depth_ros.geometry.transforms import BODY_R_OPTICAL, RigidTransform
from lingbot_depth_ros.io.depth_files import save_depth_png_mm
from lingbot_depth_ros.messages.camera_model import camera_geometry
from lingbot_depth_ros.messages.image import depth_m_from_message
from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_fields, unpack_rgb
from lingbot_depth_ros.params.navigation import NAVIGATION_PARAMS_BY_NAME, lidar_extrinsics_from_params

#: the depth node's fallback LiDAR extrinsics parameters, in the order of lidar_extrinsics_from_params
LIDAR_POSE_PARAMS = ("lidar.x_m", "lidar.y_m", "lidar.z_m", "lidar.roll_rad", "lidar.pitch_rad", "lidar.yaw_rad")
Clouds = dict[int, tuple[np.ndarray, np.ndarray | None]]
"""frame index -> (xyz (N, 3) float32 [m], rgb (N, 3) uint8 or None) of a node's recorded clouds."""


@dataclass
class ReplayOptions:
    """Settings of one replay (see ``lingbot-depth-eval --help``).

    ``rate``: multiple of the recorded rate, or None = as fast as the node answers.
    ``publish_tf``: publish the bag's /tf_static (when tf2_msgs is installed; only for a node the
    tool did not start: a started node gets the transform as parameters).
    ``align``: how a depth map is aligned before scoring: ``none``; ``median`` / ``lstsq`` /
    ``lstsq_inverse``: per frame to the ground truth (oracle protocols of relative-depth papers, see
    :mod:`lingbot_depth_ros.evaluation.alignment`); ``sparse``: not here: the node itself fits its
    output to the LiDAR (``align_to_sparse``), which is what a robot gets.
    ``send_poses``: send the bag's camera poses (geometry_msgs/PoseStamped, scene bags) to ``topics.camera_pose``
    before each frame's image, for a node with ``temporal.pose_source pose``; ``poses_required``: the node reads
    them, so the replay waits for its pose subscription too (else the poses go out whether or not anyone listens).
    """

    rate: float | None = 1.0
    timeout_s: float = 10.0
    wait_s: float = 30.0
    topics: StreamTopics = field(default_factory=StreamTopics)
    send_sparse: bool = True
    send_lidar: bool = False
    record_points: bool = False
    output_qos: str = "reliable"
    clock: bool = False
    max_depth_m: float | None = None
    progress: bool = True
    publish_tf: bool = True
    align: str = "none"
    send_poses: bool = True
    poses_required: bool = False


@dataclass
class LoadedFrame:
    """One frame to send: serialized messages by role, and the decoded inputs for scoring/pictures.

    ``lidar_points``: (N, 3) float32 [m] of the bag's cloud in its LiDAR frame, or None.
    """

    index: int
    stamp_ns: int
    raw: dict[str, bytes]
    inputs: FrameInputs
    lidar_points: np.ndarray | None = None


@dataclass
class LoadedBag:
    """A bag in memory: frames in stamp order, the topics it was read from, the /tf_static message
    (serialized) and the 4x4 T_camera_lidar it holds (None when the bag has none)."""

    path: Path
    frames: list[LoadedFrame]
    topics: StreamTopics = field(default_factory=StreamTopics)
    tf_static: bytes | None = None
    camera_from_lidar: np.ndarray | None = None

    @property
    def inputs(self) -> list[FrameInputs]:
        return [f.inputs for f in self.frames]


@dataclass
class EvaluationResult:
    """All runs over one bag and the report written for them."""

    bag: LoadedBag
    runs: list[RunResult]
    report: ReportPaths | None
    clouds: dict[str, Clouds] = field(default_factory=dict)


# ---------------------------------------------------------------------------------- bag loading
def load_bag(path: str | Path, bag_topics_: StreamTopics | None = None, max_frames: int | None = None) -> LoadedBag:
    """Read an evaluation bag: raw messages per frame (grouped by header stamp) plus decoded inputs. The raw
    messages by replay role: image, camera_info, sparse_depth, lidar_points and camera_pose (the bag's
    ``pose`` topic, where it has one).

    Raises:
        InputError: not a bag, or no frame with an image and camera_info.
    """
    t = bag_topics_ or StreamTopics()
    decoded = []
    for frame in read_frames(path, t):
        decoded.append(frame)
        if max_frames is not None and len(decoded) >= max_frames:
            break
    if not decoded:
        raise InputError(f"{path}: no frame with both {t.image} and {t.camera_info}")
    by_stamp: dict[int, dict[str, bytes]] = {f.stamp_ns: {} for f in decoded}
    roles = {t.image: "image", t.camera_info: "camera_info", t.sparse_depth: "sparse_depth",
             t.lidar_points: "lidar_points", t.pose: "camera_pose"}
    tf_static = None
    last = decoded[-1].stamp_ns
    for raw in read_raw(path, list(roles) + [t.tf_static]):
        if raw.topic == t.tf_static:
            tf_static = tf_static or raw.data
            continue
        stamp = cdr_stamp_ns(raw.data)
        if stamp in by_stamp:
            by_stamp[stamp].setdefault(roles[raw.topic], raw.data)
        elif stamp > last and raw.log_time_ns > last + 10_000_000_000:
            break
    frames = [LoadedFrame(index=i, stamp_ns=f.stamp_ns, raw=by_stamp[f.stamp_ns], lidar_points=f.lidar_points,
                          inputs=FrameInputs(index=i, stamp_ns=f.stamp_ns, rgb=f.rgb, sparse_depth_m=f.sparse_depth_m,
                                             depth_gt_m=f.depth_gt_m, intrinsics=f.intrinsics,
                                             camera_pose=f.camera_pose))
              for i, f in enumerate(decoded)]
    camera_from_lidar = next((f.camera_from_lidar for f in decoded if f.camera_from_lidar is not None), None)
    return LoadedBag(path=Path(path), frames=frames, topics=t, tf_static=tf_static,
                     camera_from_lidar=camera_from_lidar)


def require_lidar(bag: LoadedBag) -> None:
    """InputError naming the bag's PointCloud2 topics when no frame has a cloud on its LiDAR topic."""
    if any("lidar_points" in f.raw for f in bag.frames):
        return
    clouds = [name for name, (msgtype, _) in bag_topics(bag.path).items() if msgtype == POINTCLOUD2_TYPE]
    hint = f"; its PointCloud2 topics: {', '.join(clouds)} (pass --bag-lidar-topic)" if clouds else ""
    raise InputError(f"{bag.path} has no LiDAR point clouds on {bag.topics.lidar_points} to send{hint}")


# ---------------------------------------------------------------------------------- LiDAR extrinsics
def _param_text(value: float) -> str:
    """A float as a ROS parameter value that always parses as a double (``0.0``, not ``0``)."""
    text = f"{value:.9f}".rstrip("0")
    if float(text) == 0.0:
        return "0.0"  # never "-0.0"
    return text + "0" if text.endswith(".") else text


def lidar_params_from_extrinsics(camera_from_lidar: np.ndarray) -> dict[str, str]:
    """The depth node's ``lidar.*`` fallback extrinsics equal to a 4x4 T_camera_lidar (camera optical
    frame <- LiDAR), as ``-p NAME:=VALUE`` strings; the inverse of ``lidar_extrinsics_from_params``.

    Raises:
        InputError: not a rigid transform, or a pose outside the parameters' ranges.
    """
    optical_t_lidar = RigidTransform.from_matrix(np.asarray(camera_from_lidar, dtype=np.float64))
    body_t_lidar = RigidTransform(BODY_R_OPTICAL, np.zeros(3)).compose(optical_t_lidar)
    values = (*body_t_lidar.translation, *body_t_lidar.rpy())
    params = {}
    for name, value in zip(LIDAR_POSE_PARAMS, values):
        spec = NAVIGATION_PARAMS_BY_NAME[name]
        assert spec.min is not None and spec.max is not None, f"{name} has no range"  # every lidar.* pose one has
        if not spec.min - 1e-9 <= value <= spec.max + 1e-9:
            raise InputError(f"the bag's LiDAR extrinsics give {name} = {value:.4f}, outside [{spec.min}, {spec.max}]")
        params[name] = _param_text(float(value))
    return params


def params_line(params: Mapping[str, str]) -> str:
    """``-p a:=1.0 -p b:=2.0`` (to paste after ``--ros-args``)."""
    return " ".join(f"-p {name}:={value}" for name, value in params.items())


def _as_float(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"node parameter {name}:={text} is not a number") from None


def node_projection(node_params: Mapping[str, str], camera_from_lidar: np.ndarray | None) -> dict[str, Any]:
    """How the node will project the clouds: its extrinsics (the node's lidar.* parameters when any is
    given, else the bag's transform), rectification and depth limits, from its ``-p`` parameters."""
    if any(name in node_params for name in LIDAR_POSE_PARAMS) or camera_from_lidar is None:
        values = {name: _as_float(node_params[name], name) for name in LIDAR_POSE_PARAMS if name in node_params}
        optical_t_lidar = lidar_extrinsics_from_params(values)
    else:
        optical_t_lidar = RigidTransform.from_matrix(np.asarray(camera_from_lidar, dtype=np.float64))
    limit = {name: _as_float(node_params[name], name) if name in node_params
             else NAVIGATION_PARAMS_BY_NAME[name].default
             for name in ("lidar.min_depth_m", "lidar.max_depth_m")}
    rectified = node_params.get("camera.rectified", node_params.get("lidar.image_rectified", "false"))
    return {"optical_T_lidar": optical_t_lidar, "rectified": rectified.strip().lower() == "true",
            "min_depth_m": float(limit["lidar.min_depth_m"]), "max_depth_m": float(limit["lidar.max_depth_m"])}


def show_projected_lidar(bag: LoadedBag, projection: Mapping[str, Any]) -> None:
    """Replace each frame's sparse input (for the pictures) by its LiDAR cloud projected as the node
    projects it (:func:`lidar_to_sparse_depth` with the bag's CameraInfo): what the node received."""
    for frame in bag.frames:
        if frame.lidar_points is None or "camera_info" not in frame.raw:
            continue
        info: Any = TYPESTORE.deserialize_cdr(frame.raw["camera_info"], CAMERA_INFO_TYPE)
        height, width = frame.inputs.rgb.shape[:2]
        camera = camera_geometry(info, width, height, projection["rectified"]).info  # as the node's LiDAR input
        intrinsics, distortion = projection_model(camera.k, camera.d, camera.distortion_model, camera.p, width, height,
                                                  projection["rectified"])
        frame.inputs.sparse_depth_m = lidar_to_sparse_depth(
            frame.lidar_points, projection["optical_T_lidar"], intrinsics, distortion,
            min_depth_m=projection["min_depth_m"], max_depth_m=projection["max_depth_m"])
        frame.inputs.sparse_label = "sparse input (LiDAR projected)"


# ---------------------------------------------------------------------------------- scoring
def align_to_ground_truth(pred_m: np.ndarray, gt_m: np.ndarray | None, align: str,
                          max_depth_m: float | None = None) -> np.ndarray:
    """``pred_m`` aligned to ``gt_m`` per ``align`` (``none`` / ``sparse``: unchanged; see ReplayOptions).

    Both (H, W) float32 [m]; ground truth beyond ``max_depth_m`` is not used for the fit. A frame the fit
    fails on (too few pixels) comes back all NaN: it then counts as uncovered, never as unaligned.
    """
    if align in ("none", "sparse") or gt_m is None:
        return pred_m
    if align not in ALIGNMENT_MODES:
        raise InputError(f"unknown alignment '{align}'; choose one of: {', '.join(ALIGNMENT_MODES + ('sparse',))}")
    mask = None if max_depth_m is None else np.nan_to_num(gt_m, nan=np.inf) <= max_depth_m
    try:
        aligned, _, _ = align_prediction(pred_m, gt_m, mask, align)
    except InputError:
        return np.full(pred_m.shape, np.nan, np.float32)
    return aligned


def score_run(bag: LoadedBag, options: ReplayOptions, label: str, sent_ns: dict[int, int],
              depth_outputs: dict[int, tuple[int, bytes]], points_outputs: dict[int, bytes]
              ) -> tuple[RunResult, Clouds]:
    """A run's result from what the node sent back.

    Args:
        sent_ns: frame index -> monotonic time [ns] its image was published.
        depth_outputs: header stamp [ns] -> (monotonic receive time [ns], serialized sensor_msgs/Image).
        points_outputs: header stamp [ns] -> serialized sensor_msgs/PointCloud2.
    """
    outcomes: list[FrameOutcome] = []
    predictions: dict[int, np.ndarray] = {}
    clouds: Clouds = {}
    receive_times = []
    for frame in bag.frames:
        output = depth_outputs.get(frame.stamp_ns)
        if output is None or frame.index not in sent_ns:
            outcomes.append(FrameOutcome(frame.index, frame.stamp_ns, answered=False))
            continue
        received_ns, data = output
        receive_times.append(received_ns)
        depth_msg: Any = TYPESTORE.deserialize_cdr(data, IMAGE_TYPE)
        pred = depth_m_from_message(depth_msg)  # NaN = none
        gt = frame.inputs.depth_gt_m
        pred = align_to_ground_truth(pred, gt, options.align, options.max_depth_m)
        predictions[frame.index] = pred
        outcome = FrameOutcome(frame.index, frame.stamp_ns, answered=True,
                               latency_ms=(received_ns - sent_ns[frame.index]) / 1e6,
                               metrics=score_frame(pred, gt, options.max_depth_m),
                               metrics_all=score_frame(pred, gt, options.max_depth_m, invalid="nearest"))
        outcomes.append(outcome)
        if frame.stamp_ns in points_outputs:
            cloud: Any = TYPESTORE.deserialize_cdr(points_outputs[frame.stamp_ns], POINTCLOUD2_TYPE)
            xyz = pointcloud_fields(cloud, ("x", "y", "z")).astype(np.float32)
            keep = np.isfinite(xyz).all(axis=1)
            rgb = None
            if any(f.name == "rgb" for f in cloud.fields):
                rgb = unpack_rgb(pointcloud_fields(cloud, ("rgb",))[:, 0].astype(np.float32))[keep]
            clouds[frame.index] = (xyz[keep], rgb)
            outcome.cloud_points = int(np.count_nonzero(keep))
    first_send = min(sent_ns.values()) / 1e9 if sent_ns else 0.0
    last_receive = max(receive_times) / 1e9 if receive_times else first_send
    settings = {"rate": "max" if options.rate is None else options.rate, "timeout_s": options.timeout_s,
                "clock": options.clock, "topics": vars(options.topics), "sent_sparse": options.send_sparse,
                "sent_lidar": options.send_lidar, "max_depth_m": options.max_depth_m, "align": options.align}
    return RunResult(label=label, outcomes=outcomes, predictions=predictions, first_send_s=first_send,
                     last_receive_s=last_receive, settings=settings), clouds


# ---------------------------------------------------------------------------------- outputs
def save_depth(folder: Path, runs: list[RunResult]) -> list[Path]:
    """``<folder>/<run>/frame_NNNN.png`` (16-bit, mm, 0 = invalid) and ``.npy`` (float32 m, NaN =
    invalid) of every answered frame of every run (NNNN = frame index in the bag, as the demo names them)."""
    written = []
    for run in runs:
        target = folder / re.sub(r"[^A-Za-z0-9_.-]", "_", run.label)
        target.mkdir(parents=True, exist_ok=True)
        for index, depth in sorted(run.predictions.items()):
            written.append(save_depth_png_mm(target / f"frame_{index:04d}.png", depth))
            np.save(target / f"frame_{index:04d}.npy", depth.astype(np.float32))
            written.append(target / f"frame_{index:04d}.npy")
    return written

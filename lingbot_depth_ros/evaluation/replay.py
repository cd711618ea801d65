"""``lingbot-depth-eval``: replay an evaluation bag into a running depth node over real ROS 2 topics,
record what it publishes, and score it against the bag's ground truth.

How a run works:

1. The bag (written by ``lingbot-depth-bag`` or any bag with the same streams) is read with
   ``rosbags``; its serialized CDR messages are published *unchanged* (header stamps kept) through
   rclpy on the node's input topics: per frame camera_info, sparse depth (and optionally the LiDAR
   cloud), then the image.
2. Pacing: ``--rate 1.0`` (default) replays at the recorded rate, ``--rate 2.0`` twice as fast,
   ``--rate max`` sends the next frame as soon as the previous frame's depth came back (or after
   ``--timeout-s``).
3. The node's ``depth`` (and with ``--record-points`` its ``points``) outputs are matched to the
   input frames by header stamp. Latency = image publish -> depth received; a frame that never got
   a depth is *dropped*; throughput = answered frames / (last receive - first send).
4. Each answered depth map is scored with :func:`~lingbot_depth_ros.evaluation.metrics.depth_metrics`
   against the bag's ``/camera/depth_gt``; :func:`~lingbot_depth_ros.evaluation.report.write_report`
   writes report.json, report.md and pictures.

Transport: large images over Fast DDS on one host need shared-memory segments that fit them and
quick repair of lost fragments; the tool applies the package's profile (config/fastdds_localhost.xml,
see :mod:`lingbot_depth_ros.ros.dds`) for itself and the nodes it starts, unless
``FASTRTPS_DEFAULT_PROFILES_FILE`` is already set.

Clock: the node synchronizes inputs by header stamp, so it needs no clock at all. With
``--clock`` the tool also publishes ``/clock`` (rosgraph_msgs/Clock) with the bag time of the frame
being sent (and repeats it at 20 Hz) for nodes started with ``use_sim_time:=true``; with
``--start-node --clock`` the node is started that way. Without ``--clock`` do not run the node with
``use_sim_time:=true``: its clock would never advance.

``--start-node`` starts ``python -m lingbot_depth_ros.depth_node`` itself (inputs and outputs remapped
to private topics ``/lingbot_eval/p<pid>/<run>/...`` so it never mixes with a live camera or another
node; ``input_qos:=reliable`` so no frame is lost in transport) and stops it at the end;
``--compare nearest`` then replays the same bag into a second node running the ``nearest``
baseline, and the report puts both side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

import lingbot_depth_ros
from lingbot_depth_ros.errors import InputError, LingbotDepthError
from lingbot_depth_ros.evaluation.bags import TYPESTORE, BagTopics, depth_from_message, read_frames, read_raw
from lingbot_depth_ros.ros.dds import apply_default_dds_profile
from lingbot_depth_ros.evaluation.report import FrameInputs, FrameOutcome, ReportPaths, RunResult, picture_indices, \
    score_frame, write_report
from lingbot_depth_ros.io.ply import write_ply
from lingbot_depth_ros.progress import ProgressBar
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_fields, pointcloud2_to_xyz, unpack_rgb

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
RECEIVE_RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
_ROLE_TYPES = {"camera_info": CameraInfo, "sparse_depth": Image, "lidar_points": PointCloud2, "image": Image}
_SEND_ORDER = ("camera_info", "sparse_depth", "lidar_points", "image")


@dataclass
class ReplayTopics:
    """Where the bag streams are published and where the node's outputs are read."""

    image: str = "/camera/image"
    camera_info: str = "/camera/camera_info"
    sparse_depth: str = "/camera/sparse_depth"
    lidar_points: str = "/lidar/points"
    depth: str = "/camera/depth"
    points: str = "/camera/points"


@dataclass
class ReplayOptions:
    """Settings of one replay (see ``lingbot-depth-eval --help``).

    ``rate``: multiple of the recorded rate, or None = as fast as the node answers.
    """

    rate: float | None = 1.0
    timeout_s: float = 10.0
    wait_s: float = 30.0
    topics: ReplayTopics = field(default_factory=ReplayTopics)
    send_sparse: bool = True
    send_lidar: bool = False
    record_points: bool = False
    output_qos: str = "reliable"
    clock: bool = False
    max_depth_m: float | None = None
    progress: bool = True


@dataclass
class NodeLaunch:
    """How to start the depth node as a subprocess (``estimator`` None = take it from the params file)."""

    estimator: str | None = "classical"
    mode: str = "completion"
    params_file: Path | None = None
    params: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None


@dataclass
class LoadedFrame:
    """One frame to send: serialized messages by role, and the decoded inputs for scoring/pictures."""

    index: int
    stamp_ns: int
    raw: dict[str, bytes]
    inputs: FrameInputs


@dataclass
class LoadedBag:
    """A bag in memory: frames in stamp order and the /tf_static message (serialized) if any."""

    path: Path
    frames: list[LoadedFrame]
    tf_static: bytes | None = None

    @property
    def inputs(self) -> list[FrameInputs]:
        return [f.inputs for f in self.frames]


@dataclass
class EvaluationResult:
    """All runs over one bag and the report written for them."""

    bag: LoadedBag
    runs: list[RunResult]
    report: ReportPaths | None
    clouds: dict[str, dict[int, tuple[np.ndarray, np.ndarray | None]]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------- bag loading
def cdr_stamp_ns(data: bytes) -> int:
    """Header stamp [ns] of a serialized message whose first field is std_msgs/Header."""
    if len(data) < 12:
        raise InputError("serialized message too short to hold a header")
    endian = "<" if data[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(endian + "iI", data, 4)
    return sec * 1_000_000_000 + nanosec


def load_bag(path: str | Path, bag_topics: BagTopics | None = None, max_frames: int | None = None) -> LoadedBag:
    """Read an evaluation bag: raw messages per frame (grouped by header stamp) plus decoded inputs.

    Raises:
        InputError: not a bag, or no frame with an image and camera_info.
    """
    t = bag_topics or BagTopics()
    decoded = []
    for frame in read_frames(path, t):
        decoded.append(frame)
        if max_frames is not None and len(decoded) >= max_frames:
            break
    if not decoded:
        raise InputError(f"{path}: no frame with both {t.image} and {t.camera_info}")
    by_stamp: dict[int, dict[str, bytes]] = {f.stamp_ns: {} for f in decoded}
    roles = {t.image: "image", t.camera_info: "camera_info", t.sparse_depth: "sparse_depth",
             t.lidar_points: "lidar_points"}
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
    frames = [LoadedFrame(index=i, stamp_ns=f.stamp_ns, raw=by_stamp[f.stamp_ns],
                          inputs=FrameInputs(index=i, stamp_ns=f.stamp_ns, rgb=f.rgb, sparse_depth_m=f.sparse_depth_m,
                                             depth_gt_m=f.depth_gt_m))
              for i, f in enumerate(decoded)]
    return LoadedBag(path=Path(path), frames=frames, tf_static=tf_static)


# ---------------------------------------------------------------------------------- the ROS side
class ReplayNode(Node):
    """Publishes bag messages on the node's inputs and records its outputs with receive times."""

    def __init__(self, topics: ReplayTopics, *, send_roles: tuple[str, ...], record_points: bool, output_qos: str,
                 clock: bool, context: rclpy.Context) -> None:
        super().__init__("lingbot_depth_replay", context=context)
        role_topics = {"image": topics.image, "camera_info": topics.camera_info,
                       "sparse_depth": topics.sparse_depth, "lidar_points": topics.lidar_points}
        self.publishers_by_role = {role: self.create_publisher(_ROLE_TYPES[role], role_topics[role], RELIABLE)
                                   for role in send_roles}
        receive_qos = RECEIVE_RELIABLE if output_qos == "reliable" else qos_profile_sensor_data
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)
        self.depth_outputs: dict[int, tuple[int, bytes]] = {}
        self.points_outputs: dict[int, bytes] = {}
        self.depth_topic = topics.depth
        self.create_subscription(Image, topics.depth, self._on_depth, receive_qos, raw=True)
        if record_points:
            self.create_subscription(PointCloud2, topics.points, self._on_points, receive_qos, raw=True)
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if clock else None
        self._bag_time_ns: int | None = None
        if self.clock_pub is not None:
            self.create_timer(0.05, self._republish_clock)

    def _on_depth(self, data: bytes) -> None:
        received = time.monotonic_ns()
        stamp = cdr_stamp_ns(data)
        with self.arrived:
            self.depth_outputs.setdefault(stamp, (received, data))
            self.arrived.notify_all()

    def _on_points(self, data: bytes) -> None:
        stamp = cdr_stamp_ns(data)
        with self._lock:
            self.points_outputs.setdefault(stamp, data)

    def publish_clock(self, stamp_ns: int) -> None:
        if self.clock_pub is None:
            return
        self._bag_time_ns = stamp_ns if self._bag_time_ns is None else max(self._bag_time_ns, stamp_ns)
        self._send_clock(self._bag_time_ns)

    def _republish_clock(self) -> None:
        if self._bag_time_ns is not None:
            self._send_clock(self._bag_time_ns)

    def _send_clock(self, stamp_ns: int) -> None:
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(int(stamp_ns), 1_000_000_000)
        self.clock_pub.publish(msg)

    def missing_peers(self) -> list[str]:
        """What is not connected yet: input topics without a subscriber, a depth topic without a publisher."""
        missing = [f"nothing subscribes to {p.topic_name}" for p in self.publishers_by_role.values()
                   if p.get_subscription_count() == 0]
        if self.count_publishers(self.depth_topic) == 0:
            missing.append(f"nothing publishes {self.depth_topic}")
        return missing

    def answered(self, stamp_ns: int) -> bool:
        with self._lock:
            return stamp_ns in self.depth_outputs

    def wait_for(self, stamp_ns: int, deadline: float) -> bool:
        """Block until the depth for ``stamp_ns`` arrived or the monotonic ``deadline`` [s] passed."""
        with self.arrived:
            while stamp_ns not in self.depth_outputs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.arrived.wait(min(remaining, 0.1))
            return True


def _check_alive(process: subprocess.Popen[bytes] | None, log_path: Path | None) -> None:
    if process is not None and process.poll() is not None:
        tail = ""
        if log_path is not None and log_path.is_file():
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise LingbotDepthError(f"the depth node exited with status {process.returncode} before the replay "
                                f"finished; its log:\n{tail}")


def replay_run(bag: LoadedBag, options: ReplayOptions, label: str, *,
               node_process: subprocess.Popen[bytes] | None = None, node_log: Path | None = None
               ) -> tuple[RunResult, dict[int, tuple[np.ndarray, np.ndarray | None]]]:
    """Replay ``bag`` into the node listening on ``options.topics`` and score its outputs.

    Returns:
        The run's result and, with ``record_points``, frame index -> (xyz (N, 3) float32 [m],
        rgb (N, 3) uint8 or None) of the node's clouds.

    Raises:
        LingbotDepthError: no node connected within ``wait_s``, or the node process died.
    """
    roles = ["camera_info", "image"]
    if options.send_sparse and any("sparse_depth" in f.raw for f in bag.frames):
        roles.append("sparse_depth")
    if options.send_lidar:
        if not any("lidar_points" in f.raw for f in bag.frames):
            raise InputError(f"{bag.path} has no LiDAR point clouds to send")
        roles.append("lidar_points")
    context = rclpy.Context()
    rclpy.init(args=[], context=context)  # our own CLI arguments are not ROS arguments
    node: ReplayNode | None = None
    executor = SingleThreadedExecutor(context=context)
    spinner: threading.Thread | None = None
    try:
        node = ReplayNode(options.topics, send_roles=tuple(roles), record_points=options.record_points,
                          output_qos=options.output_qos, clock=options.clock, context=context)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, name="replay_spin", daemon=True)
        spinner.start()
        deadline = time.monotonic() + options.wait_s
        while missing := node.missing_peers():
            _check_alive(node_process, node_log)
            if time.monotonic() > deadline:
                raise LingbotDepthError(
                    f"no depth node connected within {options.wait_s:.0f} s: {'; '.join(missing)}. Start the "
                    "node with matching remaps (or in namespace /camera), use --no-sparse for a monocular node "
                    "or a node reading sparse_input:=pointcloud (with --send-lidar), or use --start-node")
            time.sleep(0.05)
        time.sleep(0.3)  # let the other side finish matching too
        sent_ns: dict[int, int] = {}
        progress = ProgressBar(f"replay {label}", len(bag.frames), min_interval_s=0.2,
                               enabled=options.progress and sys.stderr.isatty())  # no \r spam in logs
        start_wall = time.monotonic()
        first_stamp = bag.frames[0].stamp_ns
        for count, frame in enumerate(bag.frames):
            if options.rate is not None:
                due = start_wall + (frame.stamp_ns - first_stamp) / 1e9 / options.rate
                while (delay := due - time.monotonic()) > 0:
                    time.sleep(min(delay, 0.05))
            node.publish_clock(frame.stamp_ns)
            for role in _SEND_ORDER:
                if role in node.publishers_by_role and role in frame.raw:
                    if role == "image":
                        sent_ns[frame.index] = time.monotonic_ns()
                    node.publishers_by_role[role].publish(frame.raw[role])
            if options.rate is None:
                node.wait_for(frame.stamp_ns, time.monotonic() + options.timeout_s)
            _check_alive(node_process, node_log)
            progress.update(count + 1, f"sent, {len(node.depth_outputs)} answered")
        final_deadline = time.monotonic() + options.timeout_s
        for frame in bag.frames:
            if not node.wait_for(frame.stamp_ns, final_deadline):
                break
        time.sleep(0.05)
        progress.close(note=f"sent, {len(node.depth_outputs)} answered")
        with node.arrived:
            depth_outputs = dict(node.depth_outputs)
            points_outputs = dict(node.points_outputs)
    finally:
        executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.shutdown(context=context)
        if spinner is not None:
            spinner.join(timeout=2.0)
    return _score(bag, options, label, sent_ns, depth_outputs, points_outputs)


def _score(bag: LoadedBag, options: ReplayOptions, label: str, sent_ns: dict[int, int],
           depth_outputs: dict[int, tuple[int, bytes]], points_outputs: dict[int, bytes]
           ) -> tuple[RunResult, dict[int, tuple[np.ndarray, np.ndarray | None]]]:
    outcomes: list[FrameOutcome] = []
    predictions: dict[int, np.ndarray] = {}
    clouds: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    receive_times = []
    for frame in bag.frames:
        output = depth_outputs.get(frame.stamp_ns)
        if output is None or frame.index not in sent_ns:
            outcomes.append(FrameOutcome(frame.index, frame.stamp_ns, answered=False))
            continue
        received_ns, data = output
        receive_times.append(received_ns)
        msg = TYPESTORE.deserialize_cdr(data, "sensor_msgs/msg/Image")
        pred = depth_from_message(msg)
        pred = np.where(pred > 0, pred, np.float32(np.nan)).astype(np.float32)
        predictions[frame.index] = pred
        outcome = FrameOutcome(frame.index, frame.stamp_ns, answered=True,
                               latency_ms=(received_ns - sent_ns[frame.index]) / 1e6,
                               metrics=score_frame(pred, frame.inputs.depth_gt_m, options.max_depth_m))
        outcomes.append(outcome)
        if frame.stamp_ns in points_outputs:
            cloud = deserialize_message(points_outputs[frame.stamp_ns], PointCloud2)
            xyz_all = pointcloud2_fields(cloud, ("x", "y", "z")).astype(np.float32)
            keep = np.isfinite(xyz_all).all(axis=1)
            rgb = None
            if any(f.name == "rgb" for f in cloud.fields):
                rgb = unpack_rgb(pointcloud2_fields(cloud, ("rgb",))[:, 0].astype(np.float32))[keep]
            xyz = pointcloud2_to_xyz(cloud)
            clouds[frame.index] = (xyz, rgb)
            outcome.cloud_points = int(xyz.shape[0])
    first_send = min(sent_ns.values()) / 1e9 if sent_ns else 0.0
    last_receive = max(receive_times) / 1e9 if receive_times else first_send
    settings = {"rate": "max" if options.rate is None else options.rate, "timeout_s": options.timeout_s,
                "clock": options.clock, "topics": vars(options.topics), "sent_sparse": options.send_sparse,
                "sent_lidar": options.send_lidar, "max_depth_m": options.max_depth_m}
    return RunResult(label=label, outcomes=outcomes, predictions=predictions, first_send_s=first_send,
                     last_receive_s=last_receive, settings=settings), clouds


# ---------------------------------------------------------------------------------- node process
def node_command(launch: NodeLaunch, topics: ReplayTopics, use_sim_time: bool) -> list[str]:
    """Command line that starts the depth node with its inputs/outputs remapped to ``topics``."""
    cmd = [sys.executable, "-m", "lingbot_depth_ros.depth_node", "--ros-args"]
    if launch.params_file is not None:
        cmd += ["--params-file", str(launch.params_file)]
    params = {"input_qos": "reliable", "mode": launch.mode}
    if launch.estimator is not None:
        params["estimator"] = launch.estimator
    if use_sim_time:
        params["use_sim_time"] = "true"
    params.update(launch.params)
    for name, value in params.items():
        cmd += ["-p", f"{name}:={value}"]
    for source, target in (("image", topics.image), ("camera_info", topics.camera_info),
                           ("sparse_depth", topics.sparse_depth), ("lidar_points", topics.lidar_points),
                           ("depth", topics.depth), ("points", topics.points)):
        cmd += ["-r", f"{source}:={target}"]
    return cmd


def start_node(launch: NodeLaunch, topics: ReplayTopics, use_sim_time: bool = False) -> subprocess.Popen[bytes]:
    """Start the depth node (same Python, this package first on PYTHONPATH), output to ``launch.log_path``."""
    env = dict(os.environ)
    package_root = str(Path(lingbot_depth_ros.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    log = open(launch.log_path, "wb") if launch.log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(node_command(launch, topics, use_sim_time), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    finally:
        if launch.log_path is not None:
            log.close()  # the child holds its own descriptor


def stop_node(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> int:
    """Stop a node started by :func:`start_node` (SIGINT, then SIGTERM, then SIGKILL); returns its status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return int(process.returncode)


def private_topics(topics: ReplayTopics, label: str) -> ReplayTopics:
    """``topics`` moved under ``/lingbot_eval/p<pid>/<label>``, so a started node never meets other
    publishers (a live camera driver, an already running depth node, another run or another
    evaluation running at the same time on the same ROS domain)."""
    prefix = f"/lingbot_eval/p{os.getpid()}/" + re.sub(r"[^A-Za-z0-9_]", "_", label)
    return ReplayTopics(**{name: prefix + "/" + value.lstrip("/") for name, value in vars(topics).items()})


def replay_with_node(bag: LoadedBag, options: ReplayOptions, launch: NodeLaunch, label: str
                     ) -> tuple[RunResult, dict[int, tuple[np.ndarray, np.ndarray | None]]]:
    """Start a node on private topics (:func:`private_topics`), replay ``bag`` into it, stop it."""
    options = dataclasses.replace(options, topics=private_topics(options.topics, label))
    process = start_node(launch, options.topics, use_sim_time=options.clock)
    try:
        result, clouds = replay_run(bag, options, label, node_process=process, node_log=launch.log_path)
    finally:
        stop_node(process)
    result.settings["node"] = {"estimator": launch.estimator, "mode": launch.mode,
                               "params_file": str(launch.params_file) if launch.params_file else None,
                               "params": launch.params}
    return result, clouds


def evaluate(bag_path: str | Path, out_dir: str | Path, options: ReplayOptions, *, launch: NodeLaunch | None = None,
             compare: list[str] | None = None, label: str | None = None, max_frames: int | None = None,
             max_pictures: int = 8, bag_topics: BagTopics | None = None,
             meta: dict[str, Any] | None = None) -> EvaluationResult:
    """Replay a bag into a node (started here when ``launch`` is given, else already running), then
    into one freshly started node per ``compare`` estimator, and write the report into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    apply_default_dds_profile()
    profile = os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE")
    bag = load_bag(bag_path, bag_topics, max_frames)
    runs: list[RunResult] = []
    clouds: dict[str, dict[int, tuple[np.ndarray, np.ndarray | None]]] = {}
    if launch is not None:
        primary = label or (launch.estimator or "node")
        if launch.log_path is None:
            launch.log_path = out / f"node_{primary}.log"
        result, frame_clouds = replay_with_node(bag, options, launch, primary)
    else:
        primary = label or "node"
        result, frame_clouds = replay_run(bag, options, primary)
    runs.append(result)
    clouds[primary] = frame_clouds
    for estimator in compare or []:
        base = launch or NodeLaunch()
        other = NodeLaunch(estimator=estimator, mode=base.mode, params_file=base.params_file,
                           params=dict(base.params), log_path=out / f"node_{estimator}.log")
        name = estimator if estimator not in clouds else f"{estimator}-2"
        result, frame_clouds = replay_with_node(bag, options, other, name)
        runs.append(result)
        clouds[name] = frame_clouds
    info = {"bag": str(bag.path), "frames": len(bag.frames),
            "image size": f"{bag.frames[0].inputs.rgb.shape[1]}x{bag.frames[0].inputs.rgb.shape[0]}",
            "rate": "max (next frame when the previous answered)" if options.rate is None
            else f"{options.rate:g}x recorded",
            "Fast DDS profile": str(profile) if profile else os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE", "—"),
            **(meta or {})}
    report = write_report(out, bag.inputs, runs, meta=info, max_pictures=max_pictures)
    if options.record_points:
        write_clouds(out / "clouds", clouds, [bag.frames[i].index for i in picture_indices(len(bag.frames),
                                                                                           max_pictures)])
    return EvaluationResult(bag=bag, runs=runs, report=report, clouds=clouds)


def write_clouds(folder: Path, clouds: dict[str, dict[int, tuple[np.ndarray, np.ndarray | None]]],
                 indices: list[int]) -> list[Path]:
    """``<folder>/<run>/frame_NNNN.ply`` of the recorded clouds of the frames ``indices``."""
    written = []
    for label, frames in clouds.items():
        for index in indices:
            if index in frames:
                xyz, rgb = frames[index]
                target = folder / re.sub(r"[^A-Za-z0-9_.-]", "_", label)
                target.mkdir(parents=True, exist_ok=True)
                written.append(write_ply(target / f"frame_{index:04d}.ply", xyz, rgb))
    return written


# ---------------------------------------------------------------------------------- CLI
def _rate(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate takes a positive number or 'max', got '{text}'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--rate must be > 0, got {value}")
    return value


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--node-param takes NAME:=VALUE, got '{text}'")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lingbot-depth-eval", description=__doc__.split("\n\n")[0].replace("``", ""),
                                epilog="See the module documentation (README 'Evaluation') for the clock "
                                       "handling and the report contents.")
    p.add_argument("bag", type=Path, help="evaluation bag (lingbot-depth-bag output): directory, .mcap or .db3")
    p.add_argument("--out", type=Path, default=Path("eval_output"), help="report folder (default ./eval_output)")
    p.add_argument("--rate", type=_rate, default=1.0,
                   help="multiple of the recorded rate (default 1.0), or 'max': next frame once the previous "
                        "answered or timed out")
    p.add_argument("--timeout-s", type=float, default=10.0,
                   help="wait this long [s] for a frame's depth before counting it dropped (default 10)")
    p.add_argument("--wait-s", type=float, default=30.0, help="wait this long [s] for the node to connect")
    p.add_argument("--max-frames", type=int, help="replay only the first N frames")
    p.add_argument("--max-depth", type=float, help="score only ground truth up to this depth [m]")
    p.add_argument("--pictures", type=int, default=8, help="frame pictures in the report (default 8)")
    p.add_argument("--label", help="name of the primary run in the report (default: the estimator)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    source = p.add_argument_group("bag topics (defaults: what lingbot-depth-bag writes)")
    bag_defaults = BagTopics()
    source.add_argument("--bag-image-topic", default=bag_defaults.image)
    source.add_argument("--bag-camera-info-topic", default=bag_defaults.camera_info)
    source.add_argument("--bag-sparse-topic", default=bag_defaults.sparse_depth)
    source.add_argument("--bag-gt-topic", default=bag_defaults.depth_gt, help="ground truth (Image 32FC1 m / 16UC1 mm)")
    source.add_argument("--bag-lidar-topic", default=bag_defaults.lidar_points)
    topics = p.add_argument_group("topics (where the bag streams are sent / outputs read)")
    defaults = ReplayTopics()
    topics.add_argument("--image-topic", default=defaults.image)
    topics.add_argument("--camera-info-topic", default=defaults.camera_info)
    topics.add_argument("--sparse-topic", default=defaults.sparse_depth)
    topics.add_argument("--lidar-topic", default=defaults.lidar_points)
    topics.add_argument("--depth-topic", default=defaults.depth, help="the node's depth output")
    topics.add_argument("--points-topic", default=defaults.points, help="the node's cloud output")
    topics.add_argument("--no-sparse", action="store_true", help="do not send the sparse depth (monocular runs)")
    topics.add_argument("--send-lidar", action="store_true",
                        help="also send the LiDAR clouds (give the node the bag's LiDAR extrinsics as parameters; "
                             "they are in the bag's /tf_static)")
    topics.add_argument("--record-points", action="store_true",
                        help="record the node's clouds too (point counts in report.json, PLYs of the pictured "
                             "frames in <out>/clouds/<run>/)")
    topics.add_argument("--output-qos", choices=("reliable", "sensor_data"), default="reliable",
                        help="QoS to read the outputs with; sensor_data if the node runs output_qos:=sensor_data")
    topics.add_argument("--clock", action="store_true",
                        help="publish /clock from bag time (for nodes with use_sim_time:=true)")
    node = p.add_argument_group("starting the node")
    node.add_argument("--start-node", action="store_true", help="start the depth node as a subprocess")
    node.add_argument("--estimator", default=None, help="estimator of the started node (default classical, or "
                      "the params file's)")
    node.add_argument("--mode", default="completion", choices=("completion", "monocular", "auto"))
    node.add_argument("--params-file", type=Path, help="ROS 2 parameters YAML for the started node(s)")
    node.add_argument("--node-param", type=_param, action="append", default=[], metavar="NAME:=VALUE",
                      help="extra node parameter (repeatable)")
    node.add_argument("--compare", nargs="+", default=[], metavar="ESTIMATOR",
                      help="also replay into a fresh node per estimator (e.g. nearest) and compare")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lingbot-depth-eval``: 0 = done, 2 = bad input, 3 = the node answered no frame."""
    args = build_parser().parse_args(argv)
    topics = ReplayTopics(image=args.image_topic, camera_info=args.camera_info_topic, sparse_depth=args.sparse_topic,
                          lidar_points=args.lidar_topic, depth=args.depth_topic, points=args.points_topic)
    options = ReplayOptions(rate=args.rate, timeout_s=args.timeout_s, wait_s=args.wait_s, topics=topics,
                            send_sparse=not args.no_sparse and args.mode != "monocular", send_lidar=args.send_lidar,
                            record_points=args.record_points, output_qos=args.output_qos, clock=args.clock,
                            max_depth_m=args.max_depth, progress=not args.no_progress)
    launch = None
    if args.start_node:
        estimator = args.estimator or (None if args.params_file else "classical")
        launch = NodeLaunch(estimator=estimator, mode=args.mode, params_file=args.params_file,
                            params=dict(args.node_param))
    elif args.estimator or args.params_file or args.node_param:
        print("lingbot-depth-eval: error: --estimator/--params-file/--node-param need --start-node",
              file=sys.stderr)
        return 2
    try:
        bag_topics = BagTopics(image=args.bag_image_topic, camera_info=args.bag_camera_info_topic,
                               sparse_depth=args.bag_sparse_topic, depth_gt=args.bag_gt_topic,
                               lidar_points=args.bag_lidar_topic)
        result = evaluate(args.bag, args.out, options, launch=launch, compare=args.compare, label=args.label,
                          max_frames=args.max_frames, max_pictures=args.pictures, bag_topics=bag_topics,
                          meta={"command": " ".join(["lingbot-depth-eval"] + (argv or sys.argv[1:]))})
    except (LingbotDepthError, FileNotFoundError) as exc:
        print(f"lingbot-depth-eval: error: {exc}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0 if any(o.answered for run in result.runs for o in run.outcomes) else 3


def print_summary(result: EvaluationResult) -> None:
    """A few lines per run on stdout."""
    for run in result.runs:
        s = run.summary()
        lat, m = s["latency_ms"], s["metrics"]
        line = (f"{s['label']}: {s['frames_answered']}/{s['frames_sent']} frames answered, "
                f"{s['frames_dropped']} dropped, throughput {s['throughput_hz']:.1f} Hz")
        if lat["mean"] is not None:
            line += f", latency mean {lat['mean']:.1f} ms (p95 {lat['p95']:.1f})"
        if m.get("rmse_mm") is not None:
            line += f", RMSE {m['rmse_mm']:.0f} mm, MAE {m['mae_mm']:.0f} mm, δ1 {m['delta1']:.3f}"
        print(line)
    if result.report is not None:
        print(f"report: {result.report.markdown}")


if __name__ == "__main__":
    sys.exit(main())

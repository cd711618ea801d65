"""What ``lingbot-depth-eval`` does (the command line is :mod:`lingbot_depth_ros.cli.eval`): load an
evaluation bag, start depth nodes in private namespaces where asked, replay the bag into each over real
ROS 2 topics (:mod:`lingbot_depth_ros.ros.replay_node`), score what came back
(:func:`lingbot_depth_ros.evaluation.replay.score_run`) and write the report, the clouds and the depth outputs.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.deploy.dds import apply_default_dds_profile
from lingbot_depth_ros.deploy.launch_config import _params_file_value as params_file_value
from lingbot_depth_ros.deploy.node_process import (
    NodeLaunch,
    node_namespace,
    private_topics,
    start_node,
    stop_node,
    with_params,
)
from lingbot_depth_ros.evaluation.frames import RunResult
from lingbot_depth_ros.evaluation.replay import (
    LIDAR_POSE_PARAMS,
    Clouds,
    EvaluationResult,
    LoadedBag,
    ReplayOptions,
    lidar_params_from_extrinsics,
    load_bag,
    node_projection,
    params_line,
    require_lidar,
    save_depth,
    score_run,
    show_projected_lidar,
)
from lingbot_depth_ros.evaluation.report import write_report
from lingbot_depth_ros.evaluation.report_figures import picture_indices
from lingbot_depth_ros.io.ply import write_ply
from lingbot_depth_ros.ros.replay_node import ReplaySettings, replay_frames, tf_message_type

_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def replay_settings(bag: LoadedBag, options: ReplayOptions) -> ReplaySettings:
    """What the replay node sends for ``options``: camera_info and image, the sparse depth when asked for and
    the bag has it, the LiDAR clouds (and the bag's /tf_static unless ``publish_tf`` is off) with ``send_lidar``,
    the camera poses (before each image) with ``send_poses`` when the bag has them: optional (no subscriber
    needed) unless ``poses_required`` (a node with ``temporal.pose_source pose``).

    Raises:
        InputError: ``send_lidar`` with a bag without clouds.
    """
    roles = ["camera_info", "image"]
    if options.send_sparse and any("sparse_depth" in f.raw for f in bag.frames):
        roles.append("sparse_depth")
    if options.send_lidar:
        require_lidar(bag)
        roles.append("lidar_points")
    optional = []
    if options.send_poses and any("camera_pose" in f.raw for f in bag.frames):
        roles.append("camera_pose")
        if not options.poses_required:
            optional.append("camera_pose")
    return ReplaySettings(topics=options.topics, send_roles=tuple(roles), optional_roles=tuple(optional),
                          rate=options.rate,
                          timeout_s=options.timeout_s, wait_s=options.wait_s, record_points=options.record_points,
                          output_qos=options.output_qos, clock=options.clock, progress=options.progress,
                          tf_static=bag.tf_static if options.send_lidar and options.publish_tf else None)


def replay_run(bag: LoadedBag, options: ReplayOptions, label: str, *,
               node_process: subprocess.Popen[bytes] | None = None, node_log: Path | None = None
               ) -> tuple[RunResult, Clouds]:
    """Replay ``bag`` into the node listening on ``options.topics`` and score its outputs.

    ``node_process``: a node started for this run (checked to be alive; ``node_log``: its log).

    Returns:
        The run's result and, with ``record_points``, the node's clouds per frame index.

    Raises:
        LingbotDepthError: no node connected within ``wait_s``, the node process died, or
            ``send_lidar`` with a bag without clouds.
    """
    settings = replay_settings(bag, options)
    recorded = replay_frames(bag.frames, settings, label, node_process=node_process, node_log=node_log)
    result, clouds = score_run(bag, options, label, recorded.sent_ns, recorded.depth_outputs,
                               recorded.points_outputs)
    result.settings["camera_poses_sent_to"] = options.topics.camera_pose if "camera_pose" in settings.send_roles \
        else None
    if options.send_lidar:
        result.settings["tf_static_published"] = recorded.tf_published
    return result, clouds


def node_param(launch: NodeLaunch, namespace: str, name: str) -> str | None:
    """``name`` as the node started in ``namespace`` gets it: its ``--node-param``, else its params file's value
    (the node's own section over the wildcard ones, as in ROS), else None (the parameter's default).

    Raises:
        ConfigError: the params file is not readable YAML.
    """
    if name in launch.params:
        return launch.params[name]
    if launch.params_file is None:
        return None
    value = params_file_value(str(launch.params_file), name, namespace.strip("/"))
    return None if value is None else str(value)


def pose_input(namespace: str, pose_topic: str | None) -> str:
    """The started node's PoseStamped input: its ``temporal.pose_topic`` (None: the default ``camera_pose``) in
    its ``namespace`` (as given, when absolute)."""
    topic = pose_topic or "camera_pose"
    return topic if topic.startswith("/") else f"{namespace.rstrip('/')}/{topic}"


def replay_with_node(bag: LoadedBag, options: ReplayOptions, launch: NodeLaunch, label: str
                     ) -> tuple[RunResult, Clouds]:
    """Start a node in a private namespace on private topics, replay ``bag`` into it (the camera poses to its
    pose input, waited for when its ``temporal.pose_source`` is pose), stop it."""
    topics = private_topics(options.topics, label)
    namespace = node_namespace(topics, label)
    topics = dataclasses.replace(topics, camera_pose=pose_input(namespace,
                                                                node_param(launch, namespace, "temporal.pose_topic")))
    options = dataclasses.replace(options, topics=topics, publish_tf=False,
                                  poses_required=node_param(launch, namespace, "temporal.pose_source") == "pose")
    process = start_node(launch, options.topics, use_sim_time=options.clock, namespace=namespace)
    try:
        result, clouds = replay_run(bag, options, label, node_process=process, node_log=launch.log_path)
    finally:
        stop_node(process)
    result.settings["node"] = {"estimator": launch.estimator, "mode": launch.mode,
                               "params_file": str(launch.params_file) if launch.params_file else None,
                               "params": launch.params}
    return result, clouds


def lidar_setup(bag: LoadedBag, launch: NodeLaunch | None) -> tuple[NodeLaunch | None, str | None]:
    """The bag's LiDAR extrinsics for the node: added to a started node's parameters (unless the user
    set any lidar pose parameter), or a note with the parameters to give a running node."""
    require_lidar(bag)
    if bag.camera_from_lidar is None:
        return launch, (f"{bag.path} has no {bag.topics.tf_static}: the node projects the clouds with its own "
                        "lidar.* parameters or TF")
    params = lidar_params_from_extrinsics(bag.camera_from_lidar)
    if launch is not None:
        if any(name in launch.params for name in LIDAR_POSE_PARAMS):
            return launch, None
        return with_params(launch, {**params, "lidar.use_tf": "false"}), None
    published = ("published on /tf_static" if tf_message_type() is not None
                 else "not published on /tf_static: tf2_msgs is not installed")
    return None, (f"the bag's LiDAR extrinsics ({published}); a node without tf2 needs them as parameters: "
                  f"--ros-args {params_line(params)}")


def evaluate(bag_path: str | Path, out_dir: str | Path, options: ReplayOptions, *, launch: NodeLaunch | None = None,
             compare: list[str] | None = None, label: str | None = None, max_frames: int | None = None,
             max_pictures: int = 8, bag_topics: StreamTopics | None = None, save_depth_outputs: bool = False,
             meta: dict[str, Any] | None = None) -> EvaluationResult:
    """Replay a bag into a node (started here when ``launch`` is given, else already running), then
    into one freshly started node per ``compare`` estimator, and write the report into ``out_dir``
    (with ``save_depth_outputs`` also ``<out_dir>/depth/<run>/frame_NNNN.png|.npy``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    apply_default_dds_profile()
    profile = next((os.environ[v] for v in _PROFILE_VARIABLES if os.environ.get(v)), None)
    bag = load_bag(bag_path, bag_topics, max_frames)
    notes: dict[str, Any] = {}
    if options.send_lidar:
        launch_with_lidar, note = lidar_setup(bag, launch)
        launch = launch_with_lidar if launch is not None else None
        if note:
            print(f"lingbot-depth-eval: {note}")
            notes["LiDAR extrinsics"] = note
        if not options.send_sparse:
            show_projected_lidar(bag, node_projection(launch.params if launch else {}, bag.camera_from_lidar))
    if launch is not None and node_param(launch, "", "temporal.pose_source") == "pose" and options.send_poses \
            and not any("camera_pose" in f.raw for f in bag.frames):
        note = (f"{bag.path} has no camera poses on {bag.topics.pose}: the node's temporal filter "
                "(temporal.pose_source pose) gets none and resets its history every frame")
        print(f"lingbot-depth-eval: {note}")
        notes["camera poses"] = note
    runs: list[RunResult] = []
    clouds: dict[str, Clouds] = {}
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
        if options.send_lidar and launch is None and bag.camera_from_lidar is not None:
            other = with_params(other, {**lidar_params_from_extrinsics(bag.camera_from_lidar),
                                        "lidar.use_tf": "false"})
        name = estimator if estimator not in clouds else f"{estimator}-2"
        result, frame_clouds = replay_with_node(bag, options, other, name)
        runs.append(result)
        clouds[name] = frame_clouds
    info = {"bag": str(bag.path), "frames": len(bag.frames),
            "image size": f"{bag.frames[0].inputs.rgb.shape[1]}x{bag.frames[0].inputs.rgb.shape[0]}",
            "rate": "max (next frame when the previous answered)" if options.rate is None
            else f"{options.rate:g}x recorded",
            "Fast DDS profile": str(profile) if profile else "—", **notes, **(meta or {})}
    report = write_report(out, bag.inputs, runs, meta=info, max_pictures=max_pictures)
    if options.record_points:
        write_clouds(out / "clouds", clouds, [bag.frames[i].index for i in picture_indices(len(bag.frames),
                                                                                           max_pictures)])
    if save_depth_outputs:
        save_depth(out / "depth", runs)
    return EvaluationResult(bag=bag, runs=runs, report=report, clouds=clouds)


def write_clouds(folder: Path, clouds: dict[str, Clouds], indices: list[int]) -> list[Path]:
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

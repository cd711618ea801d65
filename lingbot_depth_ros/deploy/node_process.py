"""Start and stop the depth node as a subprocess for a replay (``--start-node``). No rclpy.

A started node runs in a private namespace ``/lingbot_eval/p<pid>/<run>/camera`` (:func:`node_namespace`),
with its replayed inputs and scored outputs remapped to the private topics of :func:`private_topics`:
every other output (``depth/camera_info``, ``depth/colorized``, ``obstacles/*``, ``surfaces*``, even
``/diagnostics``) and its node name are private too, so an evaluation never mixes with a live robot or
another node. It reads its inputs with ``input_qos:=reliable`` so no frame is lost in transport.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import lingbot_depth_ros
from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.errors import LingbotDepthError

#: node topic name (relative, as the node declares it) -> StreamTopics role
_NODE_TOPICS = (("image", "image"), ("camera_info", "camera_info"), ("sparse_depth", "sparse_depth"),
                ("lidar_points", "lidar_points"), ("depth/image", "depth"), ("points", "points"))


@dataclass
class NodeLaunch:
    """How to start the depth node as a subprocess (``estimator`` None = take it from the params file).

    ``params``: NAME -> VALUE as on the ``-p NAME:=VALUE`` command line.
    """

    estimator: str | None = "classical"
    mode: str = "completion"
    params_file: Path | None = None
    params: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None


def node_command(launch: NodeLaunch, topics: StreamTopics, use_sim_time: bool, namespace: str | None = None
                 ) -> list[str]:
    """Command line that starts the depth node with its inputs/outputs remapped to ``topics`` and, given a
    ``namespace``, the node and all its other topics (``/diagnostics`` included) in that namespace."""
    cmd = [sys.executable, "-m", "lingbot_depth_ros.ros.depth_node", "--ros-args"]
    if namespace:
        namespace = "/" + namespace.strip("/")
        cmd += ["-r", f"__ns:={namespace}", "-r", f"/diagnostics:={namespace}/diagnostics"]
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
    for source, role in _NODE_TOPICS:
        cmd += ["-r", f"{source}:={getattr(topics, role)}"]
    return cmd


def start_node(launch: NodeLaunch, topics: StreamTopics, use_sim_time: bool = False, namespace: str | None = None
               ) -> subprocess.Popen[bytes]:
    """Start the depth node (same Python, this package first on PYTHONPATH), output to ``launch.log_path``."""
    env = dict(os.environ)
    package_root = str(Path(lingbot_depth_ros.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    if launch.log_path is None:
        return _popen(node_command(launch, topics, use_sim_time, namespace), subprocess.DEVNULL, env)
    with open(launch.log_path, "wb") as log:  # closed on return: the child holds its own descriptor
        return _popen(node_command(launch, topics, use_sim_time, namespace), log, env)


def _popen(command: list[str], stdout: IO[bytes] | int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The node process: stdout and stderr to ``stdout`` (a file or ``subprocess.DEVNULL``), no stdin."""
    return subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


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


def check_alive(process: subprocess.Popen[bytes] | None, log_path: Path | None) -> None:
    """Raise LingbotDepthError (with the tail of its log) when a started node has exited."""
    if process is not None and process.poll() is not None:
        tail = ""
        if log_path is not None and log_path.is_file():
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise LingbotDepthError(f"the depth node exited with status {process.returncode} before the replay "
                                f"finished; its log:\n{tail}")


def private_prefix(label: str) -> str:
    """``/lingbot_eval/p<pid>/<label>`` (label reduced to a valid name token): the private root of one run."""
    return f"/lingbot_eval/p{os.getpid()}/" + re.sub(r"[^A-Za-z0-9_]", "_", label)


def private_topics(topics: StreamTopics, label: str) -> StreamTopics:
    """``topics`` moved under :func:`private_prefix`, so a started node never meets other
    publishers (a live camera driver, an already running depth node, another run or another
    evaluation running at the same time on the same ROS domain)."""
    return topics.under(private_prefix(label))


def node_namespace(topics: StreamTopics, label: str) -> str:
    """Namespace of a node started on ``private_topics(..., label)``: the one its depth topic lies in
    (``<ns>/depth/image``, so ``depth/colorized`` lands beside it), else the run's private prefix."""
    prefix = private_prefix(label)
    suffix = "/depth/image"
    if topics.depth.endswith(suffix) and topics.depth.startswith(prefix + "/"):
        return topics.depth[: -len(suffix)]
    return prefix


def with_params(launch: NodeLaunch, extra: dict[str, str]) -> NodeLaunch:
    """``launch`` with ``extra`` parameters added where the user did not set them."""
    return dataclasses.replace(launch, params={**extra, **launch.params})

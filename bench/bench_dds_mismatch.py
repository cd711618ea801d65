"""A camera driver on Fast DDS defaults feeding a node on the package's DDS profile: frames out, stale drops.

Reproduces the field report of issue 18: the node (``python -m lingbot_depth_ros.ros.depth_node``, estimator
classical, mode auto) runs with the package's Fast DDS profile (as ``depth_node`` and the launch files set
it); a publisher process plays the camera driver with the profile variables *removed* (Fast DDS defaults:
0.5 MB shared-memory segment, large messages as UDP fragments, lost fragments repaired on the writer's 3 s
heartbeat) or, with ``--publisher-profile package``, with the same profile as the node. It publishes
``--frames`` real frames (NYU 640x480 + 500 sparse samples, or KITTI 1242x375 + Velodyne) stamped with the
current time at ``--rate-hz``, then reports the node's own counters from ``/diagnostics`` (frames published,
dropped stale, ...), the depth images received, the node's warnings, and how often it logged
"sparse depth stopped"::

    .venv/bin/python bench/bench_dds_mismatch.py --dataset nyu --rate-hz 10 --frames 60 --qos reliable
    .venv/bin/python bench/bench_dds_mismatch.py --dataset kitti --rate-hz 2 --frames 24 --qos sensor_data

Reads ../shared/data (not shipped with the package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data"
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(101 + os.getpid() % 90))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(
    os.pathsep) if p])
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("PYTHONUNBUFFERED", "1")
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def load_frame(dataset: str) -> dict[str, Any]:
    """One real frame: rgb (H, W, 3) uint8, sparse (H, W) float32 [m] (0 = none), intrinsics."""
    import cv2
    import numpy as np

    from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
    from lingbot_depth_ros.synthetic.sparse_sampling import sample_random

    if dataset == "nyu":
        rgb = cv2.cvtColor(cv2.imread(str(DATA / "nyu" / "rgb_00050.jpg")), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(str(DATA / "nyu" / "sync_depth_00050.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
        sparse = sample_random(gt, 500, seed=1)
        k = CameraIntrinsics(518.8579, 519.46961, 325.58245, 253.73617, 640, 480)
    else:
        rgb = cv2.cvtColor(cv2.imread(str(DATA / "kitti_lidar" / "image_02" / "0000000000.png")), cv2.COLOR_BGR2RGB)
        velo = cv2.imread(str(DATA / "kitti_lidar" / "velodyne_raw" / "image_02" / "0000000000.png"),
                          cv2.IMREAD_UNCHANGED)
        sparse = velo.astype(np.float32) / 256.0
        k = CameraIntrinsics(721.5377, 721.5377, 609.5593, 172.854, rgb.shape[1], rgb.shape[0])
    return {"rgb": rgb, "sparse": sparse, "intrinsics": k}


def publish(args: argparse.Namespace) -> None:
    """The camera driver: publish the frames, then report the depth images it received (JSON on stdout)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
    from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image

    frame = load_frame(args.dataset)
    rclpy.init()
    node = Node(f"fake_camera_driver_{os.getpid()}")
    qos = qos_profile_sensor_data if args.qos == "sensor_data" else \
        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
    pubs = {name: node.create_publisher(kind, name, qos)
            for name, kind in (("image", Image), ("camera_info", CameraInfo), ("sparse_depth", Image))}
    received: list[int] = []
    lock = threading.Lock()

    def on_depth(msg: Image) -> None:
        with lock:
            received.append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)

    sub = node.create_subscription(Image, "depth/image", on_depth, qos_profile_sensor_data)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    def spin() -> None:
        try:
            executor.spin()
        except Exception:  # noqa: BLE001 - shutdown ends the spin
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (all(p.get_subscription_count() for p in pubs.values())
                                               and node.count_publishers(sub.topic_name)):
        time.sleep(0.05)
    rgb = numpy_to_image(frame["rgb"], "rgb8")
    info = intrinsics_to_camera_info(frame["intrinsics"])
    sparse = depth_m_to_image(frame["sparse"], encoding=args.sparse_encoding)
    sent = []
    start = time.monotonic()
    for i in range(args.frames):
        stamp = node.get_clock().now().to_msg()
        for msg in (sparse, info, rgb):
            msg.header.stamp = stamp
            msg.header.frame_id = "camera_color_optical_frame"
        pubs["sparse_depth"].publish(sparse)
        pubs["camera_info"].publish(info)
        pubs["image"].publish(rgb)
        sent.append(stamp.sec * 1_000_000_000 + stamp.nanosec)
        time.sleep(max(0.0, start + (i + 1) / args.rate_hz - time.monotonic()))
    last_sent = time.time()  # wall clock, as the node's log lines
    deadline = time.monotonic() + args.drain_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
    with lock:
        got = sorted(set(received) & set(sent))
    print(json.dumps({"sent": len(sent), "depth_received": len(got), "last_sent_time_s": last_sent}), flush=True)
    executor.shutdown(timeout_sec=2)
    spinner.join(timeout=5)
    node.destroy_node()
    rclpy.shutdown()


def stopped_before(log_text: str, end_time_s: float) -> int:
    """Lines of the node's log saying sparse depth stopped, logged before ``end_time_s`` (wall clock [s])."""
    count = 0
    for line in log_text.splitlines():
        if "sparse depth stopped" in line or "sparse_depth stopped" in line:
            stamp = re.search(r"\[(\d+\.\d+)\]", line)
            if stamp and float(stamp.group(1)) <= end_time_s:
                count += 1
    return count


def run(args: argparse.Namespace) -> dict[str, Any]:
    from lingbot_depth_ros.deploy.dds import apply_default_dds_profile

    node_env = dict(os.environ)
    for var in PROFILE_VARIABLES:
        node_env.pop(var, None)
    os.environ.update(node_env)
    profile = apply_default_dds_profile()  # the node's profile, as depth_node sets it itself
    node_env = dict(os.environ)
    driver_env = dict(node_env)
    if args.publisher_profile == "default":
        for var in PROFILE_VARIABLES:
            driver_env.pop(var, None)
    log_path = Path(args.node_log)
    cmd = [sys.executable, "-m", "lingbot_depth_ros.ros.depth_node", "--ros-args", "-p", "estimator:=classical",
           "-p", f"input_qos:={args.qos}", "-p", "diagnostics.period_s:=0.5", "-p", "cloud.enabled:=false"]
    with open(log_path, "w") as log:
        node = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=node_env, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while "ready:" not in log_path.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"node did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        watcher = subprocess.Popen([sys.executable, __file__, "--role", "diagnostics"], stdout=subprocess.PIPE,
                                   text=True, env=node_env)
        driver = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--role", "publish"], capture_output=True,
                                text=True, env=driver_env, timeout=args.frames / args.rate_hz + args.drain_s + 90)
        watcher.send_signal(signal.SIGINT)
        diag_out, _ = watcher.communicate(timeout=20)
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
    if driver.returncode != 0:
        raise SystemExit(f"publisher failed:\n{driver.stderr[-3000:]}")
    result = json.loads(driver.stdout.strip().splitlines()[-1])
    status = json.loads(diag_out.strip().splitlines()[-1]) if diag_out.strip() else {}
    values = status.get("values", {})
    text = log_path.read_text()
    warnings = [line.split("]: ", 1)[-1] for line in text.splitlines() if "[WARN]" in line]
    result.update({
        "dataset": args.dataset, "rate_hz": args.rate_hz, "qos": args.qos, "publisher_profile": args.publisher_profile,
        "node_profile": profile,
        "frames_published": int(values.get("frames published", -1)),
        "dropped_stale": int(values.get("frames dropped stale", -1)),
        "dropped_no_sync": int(values.get("frames dropped no_sync", -1)),
        "sparse_stopped_while_publishing": stopped_before(text, result.pop("last_sent_time_s")),
        "diagnostics_message": status.get("message", ""),
        "diagnostics_level": status.get("level"),
        "warnings": warnings,
        "diagnostics_values": {k: v for k, v in values.items() if k.startswith(("input delay", "images dropped",
                                                                                "sparse timeout", "latency total"))},
    })
    return result


def watch_diagnostics() -> None:
    """Print the newest pipeline status (JSON) when stopped with SIGINT."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node

    rclpy.init()
    node = Node(f"diagnostics_watch_{os.getpid()}")
    last: dict[str, Any] = {}

    def on_status(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == "lingbot_depth_node: pipeline":
                last.update(level=status.level[0] if isinstance(status.level, bytes) else int(status.level),
                            message=status.message, values={kv.key: kv.value for kv in status.values})

    node.create_subscription(DiagnosticArray, "/diagnostics", on_status, 10)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    print(json.dumps(last), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("run", "publish", "diagnostics"), default="run", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", choices=("nyu", "kitti"), default="nyu")
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--qos", choices=("reliable", "sensor_data"), default="reliable")
    parser.add_argument("--sparse-encoding", choices=("32FC1", "16UC1"), default="32FC1")
    parser.add_argument("--publisher-profile", choices=("default", "package"), default="default",
                        help="the camera driver's Fast DDS profile: Fast DDS defaults, or the package's")
    parser.add_argument("--drain-s", type=float, default=8.0, help="wait for late messages after the last frame [s]")
    parser.add_argument("--node-log", default="/tmp/bench_dds_mismatch_node.log")
    args = parser.parse_args()
    if args.role == "publish":
        publish(args)
    elif args.role == "diagnostics":
        watch_diagnostics()
    else:
        result = run(args)
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

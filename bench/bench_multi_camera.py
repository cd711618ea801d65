"""Latency per camera when one node serves N cameras (cameras: [cam0, cam1, ...]) vs one camera.

Every camera gets a frame with the same stamp at --rate Hz (as synchronized cameras do); the latency
of a camera's frame is the time from publishing its image to receiving its depth/image, over real
rclpy topics. Also measured directly: the estimator's time for one frame and for a batch of N frames
(estimate_batch), i.e. the batch's extra compute that multi-camera latency may add.

    .venv/bin/python bench/bench_multi_camera.py [--cameras 1 2 3] [--estimator classical|lingbot-tiny]
        [--size 320x240] [--frames 30] [--rate 4] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from lingbot_depth_ros.depth_node import DepthNode  # noqa: E402
from lingbot_depth_ros.estimators import create_estimator  # noqa: E402
from lingbot_depth_ros.estimators.base import DepthEstimator, EstimatorInput  # noqa: E402
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info  # noqa: E402
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image  # noqa: E402
from lingbot_depth_ros.scene.generator import SceneGenerator  # noqa: E402


def make_estimator(kind: str) -> DepthEstimator:
    if kind == "classical":
        return create_estimator("classical")
    from lingbot_depth_ros.model.testing import make_tiny_checkpoint

    path = make_tiny_checkpoint(Path(tempfile.mkdtemp()) / "model.pt", seed=0)
    return create_estimator("lingbot", checkpoint=str(path), device="cpu", resolution_level=0)


def spin_in_thread(node: Node, context: Any) -> tuple[SingleThreadedExecutor, threading.Thread]:
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=lambda: _spin(executor), daemon=True)
    thread.start()
    return executor, thread


def _spin(executor: SingleThreadedExecutor) -> None:
    try:
        executor.spin()
    except Exception:  # noqa: BLE001 - shutdown ends the spin
        pass


def run(estimator: DepthEstimator, cameras: int, frame: Any, frames: int, rate_hz: float) -> list[float]:
    """Latencies [ms] of every camera's frames with ``cameras`` cameras served by one node."""
    names = [f"cam{i}" for i in range(cameras)]
    node_ctx, feed_ctx = rclpy.Context(), rclpy.Context()
    rclpy.init(context=node_ctx)
    rclpy.init(context=feed_ctx)
    overrides = [Parameter("mode", value="completion"), Parameter("cloud.enabled", value=False),
                 Parameter("colorized.enabled", value=False)]
    if cameras > 1:
        overrides.append(Parameter("cameras", value=names))
    node = DepthNode(estimator=estimator, context=node_ctx, parameter_overrides=overrides)
    node_exec, node_thread = spin_in_thread(node, node_ctx)
    feeder = Node("bench_feeder", context=feed_ctx)
    prefixes = [f"{n}/" if cameras > 1 else "" for n in names]
    sent: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    pubs = []
    for index, prefix in enumerate(prefixes):
        pubs.append((feeder.create_publisher(Image, prefix + "image", qos_profile_sensor_data),
                     feeder.create_publisher(CameraInfo, prefix + "camera_info", qos_profile_sensor_data),
                     feeder.create_publisher(Image, prefix + "sparse_depth", qos_profile_sensor_data)))

        def on_depth(msg: Image, index: int = index) -> None:
            now = time.perf_counter()
            key = (index, msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
            with lock:
                if key in sent:
                    latencies.append(1e3 * (now - sent.pop(key)))

        feeder.create_subscription(Image, prefix + "depth/image", on_depth, qos_profile_sensor_data)
    feed_exec, feed_thread = spin_in_thread(feeder, feed_ctx)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(p.get_subscription_count() > 0 for trio in pubs for p in trio):
        time.sleep(0.05)
    image = numpy_to_image(frame.rgb, "rgb8")
    info = intrinsics_to_camera_info(frame.intrinsics)
    sparse = depth_m_to_image(frame.sparse_depth_m, encoding="16UC1")
    stamp = 1_000_000_000_000
    for _ in range(frames + 3):
        stamp += int(1e9 / rate_hz)
        sec, nanosec = divmod(stamp, 1_000_000_000)
        for msg in (image, info, sparse):
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
            msg.header.frame_id = "camera_color_optical_frame"
        for index, (pub_image, pub_info, pub_sparse) in enumerate(pubs):
            pub_info.publish(info)
            pub_sparse.publish(sparse)
            with lock:
                sent[(index, stamp)] = time.perf_counter()
            pub_image.publish(image)
        time.sleep(1.0 / rate_hz)
    time.sleep(1.0)
    for executor, thread, n, ctx in ((feed_exec, feed_thread, feeder, feed_ctx),
                                     (node_exec, node_thread, node, node_ctx)):
        executor.shutdown(timeout_sec=2)
        n.destroy_node()
        rclpy.shutdown(context=ctx)
        thread.join(timeout=5)
    return latencies[3 * cameras:]  # the first frames include discovery / warm-up


def estimator_ms(estimator: DepthEstimator, frame: Any, batch: int, repeats: int = 10) -> tuple[float, float]:
    """Median [ms] of estimate_batch on 1 frame and on ``batch`` frames (alternating runs)."""
    one = [EstimatorInput(frame.rgb, frame.sparse_depth_m, frame.intrinsics)]
    times: dict[int, list[float]] = {1: [], batch: []}
    estimator.estimate_batch(one * batch)
    for _ in range(repeats):
        for size in (1, batch):
            t0 = time.perf_counter()
            estimator.estimate_batch(one * size)
            times[size].append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times[1]), 1e3 * statistics.median(times[batch])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--estimator", choices=("classical", "lingbot-tiny"), default="classical")
    parser.add_argument("--size", default="320x240", help="image WxH")
    parser.add_argument("--frames", type=int, default=30, help="frames per camera")
    parser.add_argument("--rate", type=float, default=4.0, help="frames per second per camera")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads (lingbot-tiny; 1 avoids OpenMP oversubscription on a shared CPU)")
    args = parser.parse_args()
    if args.estimator != "classical":
        import torch

        torch.set_num_threads(args.torch_threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    frame = SceneGenerator(width=width, height=height, seed=2).frame(0)
    estimator = make_estimator(args.estimator)
    print(f"{args.estimator} at {width}x{height}, {args.rate:g} Hz per camera, {args.frames} frames per camera; "
          f"median / p90 latency image -> depth/image [ms] per camera:")
    for cameras in args.cameras:
        latencies = run(estimator, cameras, frame, args.frames, args.rate)
        single_ms, batch_ms = estimator_ms(estimator, frame, cameras)
        median = statistics.median(latencies) if latencies else float("nan")
        p90 = sorted(latencies)[int(0.9 * (len(latencies) - 1))] if latencies else float("nan")
        print(f"  {cameras} camera(s): {median:7.1f} / {p90:7.1f} ms  ({len(latencies)} frames)   "
              f"estimator: batch of {cameras} {batch_ms:6.1f} ms = one frame {single_ms:6.1f} ms "
              f"+ {batch_ms - single_ms:6.1f} ms extra")


if __name__ == "__main__":
    main()

"""Latency per camera when one node serves N cameras (cameras: [cam0, cam1, ...]) vs one camera.

The node runs in a process of its own (as on a robot: the bench's publishing and receiving never compete
with it for the GIL), with the package's Fast DDS profile. Every camera gets a frame with the same stamp
at --rate Hz (as synchronized cameras do); the latency of a camera's frame is the time from publishing
its image to receiving its depth/image (CLOCK_MONOTONIC in both processes), over real rclpy topics.
Also measured: the estimator's time for one frame and for a batch of N frames (estimate_batch), i.e. the
estimator's extra compute for the batch; and, over the steady phase, the node process's CPU time per
frame set (one frame of every camera) from /proc/self/task/<tid>/schedstat (ns on a CPU), split into its
Python threads (executor callbacks incl. message deserialization, batch worker, finishers, surface
workers) and its native threads (rmw / DDS). Its growth over one camera is all the extra compute a set
brings: the estimator's batch plus the other cameras' input handling, conversion, post-processing,
obstacle analysis and publishing. "spread": how far apart one set's depth images arrive.

    .venv/bin/python bench/bench_multi_camera.py [--cameras 1 2 3] [--estimator classical|lingbot-tiny]
        [--size 320x240] [--frames 30] [--rate 4] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import multiprocessing
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

from lingbot_depth_ros.deploy.dds import apply_default_dds_profile

apply_default_dds_profile()  # the package's 64 MB shared-memory segment: images between processes, none lost

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from lingbot_depth_ros.estimators import create_estimator  # noqa: E402
from lingbot_depth_ros.estimators.base import DepthEstimator, EstimatorInput  # noqa: E402
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info  # noqa: E402
from lingbot_depth_ros.ros.depth_node import DepthNode  # noqa: E402
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image  # noqa: E402
from lingbot_depth_ros.synthetic.generator import SceneGenerator  # noqa: E402


def make_estimator(kind: str) -> DepthEstimator:
    if kind == "classical":
        return create_estimator("classical")
    from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

    path = make_tiny_checkpoint(Path(tempfile.mkdtemp()) / "model.pt", seed=0)
    return create_estimator("lingbot", checkpoint=str(path), device="cpu", resolution_level=0)


def spin_in_thread(node: Node, context: Any, name: str) -> tuple[SingleThreadedExecutor, threading.Thread]:
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=lambda: _spin(executor), name=name, daemon=True)
    thread.start()
    return executor, thread


def _spin(executor: SingleThreadedExecutor) -> None:
    try:
        executor.spin()
    except Exception:  # noqa: BLE001 - shutdown ends the spin
        pass


def _thread_cpu_s() -> dict[int, float]:
    """CPU time [s] of every thread of this process so far, by native thread id (0.0 where unreadable)."""
    times = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            times[int(task.name)] = int((task / "schedstat").read_text().split()[0]) * 1e-9
        except (OSError, ValueError, IndexError):
            times[int(task.name)] = 0.0
    return times


def _cpu_by_group() -> dict[str, float]:
    """This (node) process's CPU time [s] so far: its Python threads other than the main one (executor
    callbacks, depth_worker, depth_finish_*, surface workers) and its native threads (rmw / DDS)."""
    python = {t.native_id for t in threading.enumerate() if t.native_id is not None}
    python.discard(threading.main_thread().native_id)  # (only answers the bench's requests)
    groups = {"node": 0.0, "native": 0.0}
    main_id = threading.main_thread().native_id
    for tid, spent in _thread_cpu_s().items():
        if tid != main_id:
            groups["node" if tid in python else "native"] += spent
    return groups


def serve_node(conn: Any, estimator_kind: str, torch_threads: int, cameras: int) -> None:
    """The node process: one DepthNode serving ``cameras`` cameras; answers "cpu" / "stages" / "stop" on ``conn``."""
    if estimator_kind != "classical":
        import torch

        torch.set_num_threads(torch_threads)
    names = [f"cam{i}" for i in range(cameras)]
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    overrides = [Parameter("mode", value="completion"), Parameter("cloud.enabled", value=False),
                 Parameter("colorized.enabled", value=False)]
    if cameras > 1:
        overrides.append(Parameter("cameras", value=names))
    node = DepthNode(estimator=make_estimator(estimator_kind), context=ctx, parameter_overrides=overrides)
    executor, thread = spin_in_thread(node, ctx, "node_spin")
    conn.send("ready")
    while True:
        request = conn.recv()
        if request == "cpu":
            conn.send(_cpu_by_group())
        elif request == "stages":
            conn.send({stage: statistics.fmean(c.latency[stage].summary_ms()[0] for c in node.channels)
                       for stage in ("convert", "postprocess", "publish", "obstacles")})
        else:
            break
    executor.shutdown(timeout_sec=2)
    node.destroy_node()
    rclpy.shutdown(context=ctx)
    thread.join(timeout=5)
    conn.send("stopped")


def run(estimator_kind: str, torch_threads: int, cameras: int, frame: Any, frames: int,
        rate_hz: float) -> tuple[list[float], dict[str, float], dict[str, float]]:
    """Latencies [ms] of every camera's frames with ``cameras`` cameras served by one node (in a process of
    its own, as on a robot: the bench's publishing and receiving never compete with it for the GIL); the
    node process's CPU [ms] per frame set over the steady phase (see _cpu_by_group); its mean stage times
    [ms] per camera frame."""
    names = [f"cam{i}" for i in range(cameras)]
    spawn = multiprocessing.get_context("spawn")
    conn, child_conn = spawn.Pipe()
    child = spawn.Process(target=serve_node, args=(child_conn, estimator_kind, torch_threads, cameras), daemon=True)
    child.start()
    if not conn.poll(120) or conn.recv() != "ready":
        raise RuntimeError("the node process did not start")
    feed_ctx = rclpy.Context()
    rclpy.init(context=feed_ctx)
    feeder = Node("bench_feeder", context=feed_ctx)
    prefixes = [f"{n}/" if cameras > 1 else "" for n in names]
    sent: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    arrivals: dict[int, list[float]] = {}  # stamp -> when each camera's depth/image arrived
    lock = threading.Lock()
    pubs = []
    for index, prefix in enumerate(prefixes):
        pubs.append((feeder.create_publisher(Image, prefix + "image", qos_profile_sensor_data),
                     feeder.create_publisher(CameraInfo, prefix + "camera_info", qos_profile_sensor_data),
                     feeder.create_publisher(Image, prefix + "sparse_depth", qos_profile_sensor_data)))

        def on_depth(msg: Image, index: int = index) -> None:
            now = time.monotonic()
            key = (index, msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
            with lock:
                if key in sent:
                    latencies.append(1e3 * (now - sent.pop(key)))
                    arrivals.setdefault(key[1], []).append(now)

        feeder.create_subscription(Image, prefix + "depth/image", on_depth, qos_profile_sensor_data)
    feed_exec, feed_thread = spin_in_thread(feeder, feed_ctx, "feeder_spin")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            all(p.get_subscription_count() > 0 for trio in pubs for p in trio)
            and all(feeder.count_publishers(prefix + "depth/image") > 0 for prefix in prefixes)):
        time.sleep(0.05)
    time.sleep(0.5)  # discovery of the depth subscriptions on the node's side
    image = numpy_to_image(frame.rgb, "rgb8")
    info = intrinsics_to_camera_info(frame.intrinsics)
    sparse = depth_m_to_image(frame.sparse_depth_m, encoding="16UC1")
    stamp = 1_000_000_000_000
    cpu_start: dict[str, float] = {}
    for index_set in range(frames + 3):
        if index_set == 3:  # steady phase: after the warm-up sets (published and finished by now)
            conn.send("cpu")
            cpu_start = conn.recv()
        stamp += int(1e9 / rate_hz)
        sec, nanosec = divmod(stamp, 1_000_000_000)
        for msg in (image, info, sparse):
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
            msg.header.frame_id = "camera_color_optical_frame"
        for index, (pub_image, pub_info, pub_sparse) in enumerate(pubs):
            pub_info.publish(info)
            pub_sparse.publish(sparse)
            with lock:
                sent[(index, stamp)] = time.monotonic()  # CLOCK_MONOTONIC: one clock for both processes
            pub_image.publish(image)
        time.sleep(1.0 / rate_hz)
    conn.send("cpu")
    cpu_end = conn.recv()
    cpu = {k: 1e3 * (cpu_end[k] - cpu_start[k]) / frames for k in cpu_end}
    conn.send("stages")
    stages = conn.recv()
    time.sleep(1.0)
    conn.send("stop")
    conn.poll(15)
    child.join(timeout=10)
    if child.is_alive():
        child.kill()
    feed_exec.shutdown(timeout_sec=2)
    feeder.destroy_node()
    rclpy.shutdown(context=feed_ctx)
    feed_thread.join(timeout=5)
    spreads = [1e3 * (max(t) - min(t)) for _, t in sorted(arrivals.items())[3:] if len(t) == cameras]
    stages["spread"] = statistics.median(spreads) if spreads else float("nan")
    return latencies[3 * cameras:], cpu, stages  # the first frames include discovery / warm-up


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
    estimator = make_estimator(args.estimator)  # (for estimator_ms; the node process makes its own)
    print(f"{args.estimator} at {width}x{height}, {args.rate:g} Hz per camera, {args.frames} frames per camera; "
          f"median / p90 latency image -> depth/image [ms] per camera:")
    rows = []
    for cameras in args.cameras:
        latencies, cpu, stages = run(args.estimator, args.torch_threads, cameras, frame, args.frames, args.rate)
        single_ms, batch_ms = estimator_ms(estimator, frame, cameras)
        median = statistics.median(latencies) if latencies else float("nan")
        p90 = sorted(latencies)[int(0.9 * (len(latencies) - 1))] if latencies else float("nan")
        rows.append((cameras, median, batch_ms - single_ms, cpu))
        print(f"  {cameras} camera(s): {median:7.1f} / {p90:7.1f} ms  ({len(latencies)} frames)   "
              f"estimator: batch of {cameras} {batch_ms:6.1f} ms = one frame {single_ms:6.1f} ms "
              f"+ {batch_ms - single_ms:6.1f} ms extra")
        print(f"      node process CPU per frame set: Python threads {cpu['node']:5.1f} ms + native/DDS "
              f"{cpu['native']:4.1f} ms; stage means per camera frame [ms]: "
              + ", ".join(f"{k} {v:.1f}" for k, v in stages.items() if k != "spread")
              + f"; median spread of a set's depth/image arrivals {stages['spread']:.1f} ms")
    base = next((r for r in rows if r[0] == 1), None)
    if base is not None:
        print("  extra over 1 camera: latency per camera | estimator's extra for the batch | extra CPU per set: "
              "node threads / node + native")
        for cameras, median, est_extra, cpu in rows:
            if cameras == 1:
                continue
            print(f"    {cameras} cameras: {median - base[1]:+6.1f} ms | {est_extra:+6.1f} ms | "
                  f"{cpu['node'] - base[3]['node']:+6.1f} / "
                  f"{cpu['node'] + cpu['native'] - base[3]['node'] - base[3]['native']:+6.1f} ms")


if __name__ == "__main__":
    main()

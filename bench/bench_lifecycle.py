"""Load time and memory of the managed depth node's transitions, as the node itself logs them.

Starts ``depth_node`` with ``lifecycle: true`` in its own process for each estimator, and drives it through its
``change_state`` service for ``--cycles`` cycles of configure -> activate -> one 320x240 frame -> deactivate
-> cleanup; prints, per cycle, the configure line's load time and memory change (RSS; CUDA when used) and the
cleanup line's memory given back. Estimators: ``classical`` (no weights), ``tiny`` (a random tiny LingBot-Depth
checkpoint, the test model), ``reference`` (``--reference``: a random checkpoint of the reference ViT-L/14
config, 324 M parameters, the size of the official model; written once to --work, about 1.3 GB), or
``--checkpoint PATH`` (a real model.pt). CPU unless ``--device``.

    .venv/bin/python bench/bench_lifecycle.py [--cycles 3] [--reference] [--checkpoint model.pt] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

from lingbot_depth_ros.deploy.dds import apply_default_dds_profile  # noqa: E402

apply_default_dds_profile()

import rclpy  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info  # noqa: E402
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image  # noqa: E402
from lingbot_depth_ros.synthetic.generator import SceneGenerator  # noqa: E402

CONFIGURED = re.compile(r"configured: .* loaded in ([\d.]+) s, memory (.*?); outputs created")
CLEANED = re.compile(r"cleaned up: estimator released, memory (.*)$", re.M)


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def run(label: str, params: dict[str, str], cycles: int, log_path: Path, retry_s: float = 900.0) -> None:
    args = [sys.executable, "-m", "lingbot_depth_ros.ros.depth_node", "--ros-args", "-p", "lifecycle:=true"]
    for key, value in params.items():
        args += ["-p", f"{key}:={value}"]
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bench_lifecycle", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    frame = SceneGenerator(width=320, height=240, seed=3, lidar_offset_m=(0.0, 0.0, 0.0)).frame(0)
    pubs = {name: node.create_publisher(kind, name, qos_profile_sensor_data)
            for name, kind in (("image", Image), ("camera_info", CameraInfo), ("sparse_depth", Image))}
    outputs: list[Image] = []
    node.create_subscription(Image, "depth/image", outputs.append, qos_profile_sensor_data)
    client = node.create_client(ChangeState, "/lingbot_depth_node/change_state")
    try:
        if not client.wait_for_service(timeout_sec=60):
            raise SystemExit(f"{label}: the node did not start:\n{log_path.read_text()[-2000:]}")

        def change(transition: int) -> None:
            future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
            _wait(future.done, 600, f"transition {transition}")
            if not future.result().success:
                raise SystemExit(f"{label}: transition {transition} refused:\n{log_path.read_text()[-2000:]}")

        print(f"{label}:")
        for cycle in range(cycles):
            change(Transition.TRANSITION_CONFIGURE)
            change(Transition.TRANSITION_ACTIVATE)
            count, stamp = len(outputs), 1_000_000_000 * (cycle + 1)
            _wait(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 30, "the node's inputs")
            # One set, sent again only after retry_s without output: a set sent while a frame is being estimated
            # would start a second frame, still in flight at deactivate (a large model on a CPU takes minutes).
            while len(outputs) == count:
                stamp += 1
                header = intrinsics_to_camera_info(frame.intrinsics).header
                header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                pubs["sparse_depth"].publish(depth_m_to_image(frame.sparse_depth_m, header, "32FC1"))
                pubs["camera_info"].publish(intrinsics_to_camera_info(frame.intrinsics, header))
                pubs["image"].publish(numpy_to_image(frame.rgb, "rgb8", header))
                deadline = time.monotonic() + retry_s
                while len(outputs) == count and time.monotonic() < deadline:
                    time.sleep(0.02)
            change(Transition.TRANSITION_DEACTIVATE)
            change(Transition.TRANSITION_CLEANUP)
            text = log_path.read_text()
            loaded, cleaned = CONFIGURED.findall(text)[cycle], CLEANED.findall(text)[cycle]
            print(f"  cycle {cycle + 1}: configure {float(loaded[0]):.2f} s, {loaded[1]}; cleanup {cleaned}")
        change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        executor.shutdown(timeout_sec=2)
        node.destroy_node()
        rclpy.shutdown(context=context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also a random reference-sized (ViT-L) model")
    parser.add_argument("--checkpoint", help="also this real LingBot-Depth checkpoint")
    parser.add_argument("--device", default="cpu", help="lingbot.device (cpu, cuda)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_lifecycle")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base = {"mode": "completion"}
    run("classical", dict(base, estimator="classical"), args.cycles, args.work / "classical.log")

    from lingbot_depth_ros.model.config import reference_model_config
    from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

    models = {"tiny LingBot-Depth (random, test model)": make_tiny_checkpoint(args.work / "tiny.pt", seed=0)}
    if args.reference:
        path = args.work / "reference.pt"
        if not path.exists():
            make_tiny_checkpoint(path, seed=0, model_config=reference_model_config())
        models["reference ViT-L/14 LingBot-Depth (random weights, 324 M parameters)"] = path
    if args.checkpoint:
        models[f"checkpoint {args.checkpoint}"] = Path(args.checkpoint)
    for label, path in models.items():
        params = dict(base, estimator="lingbot", **{"lingbot.checkpoint": str(path), "lingbot.device": args.device})
        run(f"{label}, {path.stat().st_size / 1e6:.1f} MB file, {args.device}", params, args.cycles,
            args.work / f"{path.stem}.log")


if __name__ == "__main__":
    main()

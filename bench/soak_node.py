"""Load and soak test of the depth node: fixed-rate 640x480 input for minutes, latency and memory out.

Starts the real node (``python -m lingbot_depth_ros.ros.depth_node``, estimator classical, completion)
as a subprocess, pre-renders a few frames of the procedural scene once, and publishes them cycled
(image + camera_info + sparse_depth, re-stamped with the current time) at ``--rate-hz`` for
``--duration-s``. It records every ``depth`` output and reports:

* latency = receive time of the output - publish time of the image with the same stamp
  (p50/p95/p99/max, also per third of the run to show it stays bounded),
* output rate and drops (frames sent - frames received; the node's own drop counters by reason
  from ``/diagnostics``),
* the node's resident memory (``VmRSS`` of /proc/<pid>/status) at start/middle/end, its peak, and
  after the first minute (allocator/DDS warm-up) its range and least-squares slope [MiB/min],
* the last ``/diagnostics`` status of the node.

Prints a table and writes the figures as JSON (``--out``)::

    .venv/bin/python bench/soak_node.py --rate-hz 30 --duration-s 600 --out soak_30hz.json

The publisher and the output subscriber share this process (and the machine's cores with the
node), so latency includes their deserialization and any CPU contention on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(101 + os.getpid() % 90))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(
    os.pathsep) if p])
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)

from lingbot_depth_ros.deploy.dds import apply_default_dds_profile  # noqa: E402

apply_default_dds_profile()  # before rclpy.init, and inherited by the node subprocess

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info  # noqa: E402
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image  # noqa: E402
from lingbot_depth_ros.synthetic.generator import SceneGenerator  # noqa: E402


def rss_kib(pid: int) -> int | None:
    """Resident set size [KiB] of process ``pid`` (VmRSS), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def percentiles_ms(latencies_s: np.ndarray) -> dict[str, float]:
    """p50/p95/p99/max/mean [ms] of latencies [s] (NaN when empty)."""
    if latencies_s.size == 0:
        return {k: float("nan") for k in ("p50", "p95", "p99", "max", "mean")}
    ms = latencies_s * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max()), "mean": float(ms.mean())}


def rss_trend(samples: list[tuple[float, int]], warmup_s: float = 60.0) -> dict[str, float]:
    """RSS after ``warmup_s``: min, max [MiB] and the least-squares slope [MiB/min] (flat memory ~ 0)."""
    late = [(t, v / 1024) for t, v in samples if t >= warmup_s]
    if len(late) < 3:
        return {"min": float("nan"), "max": float("nan"), "slope_mib_per_min": float("nan")}
    t, v = np.array(late).T
    slope = float(np.polyfit(t / 60.0, v, 1)[0])
    return {"min": float(v.min()), "max": float(v.max()), "slope_mib_per_min": slope}


class NodeUnderTest:
    """The depth node in a subprocess, its output to a log file."""

    def __init__(self, params: dict[str, Any], log_path: Path) -> None:
        args = [sys.executable, "-m", "lingbot_depth_ros.ros.depth_node", "--ros-args"]
        for key, value in params.items():
            args += ["-p", f"{key}:={str(value).lower() if isinstance(value, bool) else value}"]
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "ready:" in self.log_path.read_text():
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"node exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        raise SystemExit(f"node not ready after {timeout_s} s:\n{self.log_path.read_text()}")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class SoakClient:
    """Publishes the inputs and records the depth outputs and /diagnostics (one rclpy node)."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(f"soak_client_{os.getpid()}", context=self.context)
        qos = qos_profile_sensor_data
        self.pub_image = self.node.create_publisher(Image, "image", qos)
        self.pub_info = self.node.create_publisher(CameraInfo, "camera_info", qos)
        self.pub_sparse = self.node.create_publisher(Image, "sparse_depth", qos)
        self.received: list[tuple[int, float]] = []  # (stamp ns, monotonic receive time)
        self.diagnostics: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.sub_depth = self.node.create_subscription(Image, "depth/image", self._on_depth, qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown ends the spin
            pass

    def _on_depth(self, msg: Image) -> None:
        now = time.monotonic()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._lock:
            self.received.append((stamp, now))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("lingbot_depth_node"):
                entry = {"level": status.level[0] if isinstance(status.level, bytes) else int(status.level),
                         "message": status.message, "values": {kv.key: kv.value for kv in status.values}}
                with self._lock:
                    self.diagnostics.append((time.monotonic(), entry))

    def wait_connected(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in (self.pub_image, self.pub_info, self.pub_sparse)) and \
                    self.node.count_publishers(self.sub_depth.topic_name) > 0:
                return
            time.sleep(0.05)
        raise SystemExit("the node did not connect to the soak topics")

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=5)


def prerender(n_frames: int, width: int, height: int) -> list[tuple[Image, CameraInfo, Image]]:
    """Input messages (image rgb8, camera_info, sparse depth 16UC1 mm) of ``n_frames`` scene frames."""
    gen = SceneGenerator(width=width, height=height, seed=0)
    out = []
    for frame in gen.frames(n_frames):
        out.append((numpy_to_image(frame.rgb, "rgb8"), intrinsics_to_camera_info(frame.intrinsics),
                    depth_m_to_image(frame.sparse_depth_m, encoding="16UC1")))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    frames = prerender(args.frames, args.width, args.height)
    log_path = Path(args.node_log)
    params = {"estimator": args.estimator, "mode": "completion", "diagnostics.expected_rate_hz": args.rate_hz}
    node = NodeUnderTest(params, log_path)
    client = None
    try:
        node.wait_ready()
        client = SoakClient()
        client.wait_connected()
        time.sleep(0.5)
        period = 1.0 / args.rate_hz
        sent: dict[int, float] = {}  # stamp ns -> monotonic publish time of the image
        rss: list[tuple[float, int]] = []
        late_ticks = 0
        start = time.monotonic()
        next_tick = start
        next_rss = start
        next_report = start + args.progress_s
        index = 0
        while True:
            now = time.monotonic()
            if now - start >= args.duration_s:
                break
            if now >= next_rss:
                value = rss_kib(node.proc.pid)
                if value is None:
                    raise SystemExit(f"node died during the soak:\n{log_path.read_text()[-3000:]}")
                rss.append((now - start, value))
                next_rss += args.rss_every_s
            if now >= next_report:
                with client._lock:
                    got = len(client.received)
                print(f"  t={now - start:6.0f} s sent {len(sent)} received {got} rss {rss[-1][1] / 1024:.1f} MiB",
                      flush=True)
                next_report += args.progress_s
            image, info, sparse = frames[index % len(frames)]
            stamp = time.time_ns()
            for msg in (image, info, sparse):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                msg.header.frame_id = "camera_optical_frame"
            client.pub_sparse.publish(sparse)
            client.pub_info.publish(info)
            sent[stamp] = time.monotonic()
            client.pub_image.publish(image)
            index += 1
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                late_ticks += 1
                if delay < -period:  # far behind (machine stalled): resynchronize instead of bursting
                    next_tick = time.monotonic()
        elapsed = time.monotonic() - start
        time.sleep(args.drain_s)  # outputs still in flight
        end_rss = rss_kib(node.proc.pid)
        if end_rss is not None:
            rss.append((time.monotonic() - start, end_rss))
        node_alive = node.proc.poll() is None
    finally:
        if client is not None:
            client.close()
        returncode = node.stop()

    with client._lock:
        received = list(client.received)
        diagnostics = list(client.diagnostics)
    matched = [(recv - sent[stamp], recv - start) for stamp, recv in received if stamp in sent]
    latencies = np.array([m[0] for m in matched])
    at = np.array([m[1] for m in matched])
    thirds = [percentiles_ms(latencies[(at >= elapsed * i / 3) & (at < elapsed * (i + 1) / 3)]) for i in range(3)]
    rss_values = [v for _, v in rss]
    steady = [v for t, v in rss if t >= args.rss_settle_s] or rss_values
    mid = steady[len(steady) // 2]
    last_diag = diagnostics[-1][1] if diagnostics else {}
    levels = [d["level"] for _, d in diagnostics]
    return {
        "config": {"rate_hz": args.rate_hz, "duration_s": args.duration_s, "width": args.width,
                   "height": args.height, "estimator": args.estimator, "prerendered_frames": args.frames,
                   "cpu_count": os.cpu_count(), "loadavg_end": os.getloadavg()},
        "elapsed_s": elapsed,
        "sent": len(sent), "received": len(matched), "dropped": len(sent) - len(matched),
        "drop_fraction": (len(sent) - len(matched)) / max(1, len(sent)),
        "publisher_late_ticks": late_ticks,
        "input_rate_hz": len(sent) / elapsed, "output_rate_hz": len(matched) / elapsed,
        "latency_ms": percentiles_ms(latencies),
        "latency_ms_by_third": thirds,
        "rss_mib": {"start": steady[0] / 1024, "middle": mid / 1024, "end": steady[-1] / 1024,
                    "max": max(rss_values) / 1024, "first_sample": rss_values[0] / 1024,
                    "growth_start_to_end": (steady[-1] - steady[0]) / 1024},
        "rss_after_warmup_mib": rss_trend(rss, min(60.0, elapsed / 4)),
        "rss_samples": [(round(t, 1), v) for t, v in rss],
        "diagnostics": {"count": len(diagnostics), "levels_seen": sorted(set(levels)),
                        "last": last_diag},
        "node_alive_at_end": node_alive, "node_returncode": returncode,
    }


def print_table(r: dict[str, Any]) -> None:
    c = r["config"]
    print(f"\nSoak: {c['estimator']} completion, {c['width']}x{c['height']} at {c['rate_hz']:g} Hz for "
          f"{r['elapsed_s']:.0f} s ({os.cpu_count()} CPUs, load avg at end {c['loadavg_end'][0]:.2f})")
    lat = r["latency_ms"]
    rows = [
        ("frames sent / received", f"{r['sent']} / {r['received']}"),
        ("dropped", f"{r['dropped']} ({100 * r['drop_fraction']:.1f} %)"),
        ("input rate", f"{r['input_rate_hz']:.2f} Hz"),
        ("output rate", f"{r['output_rate_hz']:.2f} Hz"),
        ("latency p50 / p95 / p99 / max", f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} / "
                                          f"{lat['max']:.1f} ms"),
    ]
    for i, third in enumerate(r["latency_ms_by_third"]):
        rows.append((f"latency p50 / p99, third {i + 1}", f"{third['p50']:.1f} / {third['p99']:.1f} ms"))
    m = r["rss_mib"]
    rows.append(("node RSS start / middle / end", f"{m['start']:.1f} / {m['middle']:.1f} / {m['end']:.1f} MiB"))
    rows.append(("node RSS peak, growth", f"{m['max']:.1f} MiB, {m['growth_start_to_end']:+.1f} MiB"))
    w = r["rss_after_warmup_mib"]
    rows.append(("node RSS after warm-up min / max, slope", f"{w['min']:.1f} / {w['max']:.1f} MiB, "
                                                            f"{w['slope_mib_per_min']:+.2f} MiB/min"))
    values = r["diagnostics"]["last"].get("values", {})
    drops = ", ".join(f"{k.removeprefix('frames dropped ')} {v}" for k, v in values.items()
                      if k.startswith("frames dropped") and v != "0") or "none"
    rows.append(("node drop counters", drops))
    for stage in ("convert", "inference", "postprocess", "publish", "total"):
        key = f"latency {stage} mean [ms]"
        if key in values:
            rows.append((f"node {stage} mean / p95", f"{values[key]} / {values[f'latency {stage} p95 [ms]']} ms"))
    if r["diagnostics"]["last"]:
        rows.append(("last diagnostics", f"level {r['diagnostics']['last']['level']}: "
                                         f"{r['diagnostics']['last']['message']}"))
    rows.append(("node alive at end", str(r["node_alive_at_end"])))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-hz", type=float, default=30.0)
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=8, help="pre-rendered scene frames, cycled")
    parser.add_argument("--estimator", default="classical", choices=("classical", "nearest"))
    parser.add_argument("--rss-every-s", type=float, default=5.0)
    parser.add_argument("--rss-settle-s", type=float, default=10.0,
                        help="RSS 'start' is the first sample after this warm-up [s]")
    parser.add_argument("--progress-s", type=float, default=60.0)
    parser.add_argument("--drain-s", type=float, default=1.0)
    parser.add_argument("--node-log", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                           f"soak_node_{os.getpid()}.log"))
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    if args.rate_hz <= 0 or args.duration_s <= 0:
        parser.error("--rate-hz and --duration-s must be > 0")
    result = run(args)
    print_table(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"figures written to {args.out}")
    if not result["node_alive_at_end"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Cost of ``surfaces`` + ``obstacles`` on a large image through the HTTP API (issue 18 B).

Usage: python bench/bench_server_analysis.py [--data ../shared/data] [--size 4096] [--port 8765]
Starts ``lingbot-depth serve`` (classical estimator, default limits) in its own process, then posts the NYU
frame 0 scaled to ``size`` x ``size`` (JPEG + a 16-bit sparse depth sample of its ground truth [mm], scaled
intrinsics): once without analysis, once with ``surfaces`` + ``obstacles``. While the analysed request runs,
a small (160x120) completion request is sent every 0.5 s: its answer time shows whether the model is free
while the analysis runs. Prints wall time [s] per request and the server's resident-memory peak above
its idle baseline (VmHWM - VmRSS before the requests, [MiB]).
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

NYU_K = (518.8579, 519.46961, 325.58245, 253.73617)


def status_kib(pid: int, field: str) -> int:
    """VmRSS / VmHWM of process ``pid`` [KiB]."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def request_body(data: Path, width: int, height: int, analysis: bool) -> dict:
    """NYU frame 0 resized to width x height with its sparse depth (1 sample per 12 x 12 source px) and K."""
    rgb = cv2.imread(str(data / "nyu" / "rgb_00000.jpg"), cv2.IMREAD_COLOR)
    gt_mm = cv2.imread(str(data / "nyu" / "sync_depth_00000.png"), cv2.IMREAD_UNCHANGED)
    sparse = np.zeros_like(gt_mm)
    sparse[::12, ::12] = gt_mm[::12, ::12]
    big_rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    big_sparse = np.zeros((height, width), np.uint16)
    v, u = np.nonzero(sparse)
    big_sparse[(v * height // 480), (u * width // 640)] = sparse[v, u]
    sx, sy = width / 640, height / 480
    fx, fy, cx, cy = NYU_K
    body = {"image": b64(cv2.imencode(".jpg", big_rgb, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()),
            "mode": "completion", "sparse_depth": b64(cv2.imencode(".png", big_sparse)[1].tobytes()),
            "camera_intrinsics": {"fx": fx * sx, "fy": fy * sy, "cx": (cx + 0.5) * sx - 0.5,
                                  "cy": (cy + 0.5) * sy - 0.5}}
    if analysis:
        body.update(surfaces=True, obstacles=True, camera_height_m=1.0, camera_pitch_deg=10.0)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--size", type=int, default=4096, help="image width = height [px]")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "lingbot_depth_ros.cli.main", "serve", "--port", str(args.port),
                               "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        small = request_body(args.data, 160, 120, analysis=False)
        assert httpx.post(url + "/predict", json=small, timeout=60).status_code == 200  # warm up
        baseline_kib = status_kib(server.pid, "VmRSS")
        for analysis in (False, True):
            body = request_body(args.data, args.size, args.size, analysis)
            small_times: list[float] = []
            done = threading.Event()

            def probe(done: threading.Event = done, small_times: list[float] = small_times) -> None:
                while not done.wait(0.5):
                    t0 = time.monotonic()
                    httpx.post(url + "/predict", json=small, timeout=600)
                    small_times.append(time.monotonic() - t0)

            t0 = time.monotonic()
            prober = threading.Thread(target=probe)
            prober.start()
            response = httpx.post(url + "/predict", json=body, timeout=600)
            elapsed = time.monotonic() - t0
            done.set()
            prober.join()
            answer = response.json()
            peak_mib = (status_kib(server.pid, "VmHWM") - baseline_kib) / 1024
            extra = ""
            if response.status_code == 200 and analysis:
                surfaces = answer["surfaces"]["surfaces"] if answer.get("surfaces") else []
                extra = (f", {len(surfaces)} surfaces, recommendation "
                         f"{answer['obstacles']['recommendation']}")
            elif response.status_code != 200:
                extra = f": {answer.get('error')}"
            slowest = max(small_times) if small_times else float("nan")
            print(f"{args.size}x{args.size} analysis={analysis}: HTTP {response.status_code} in {elapsed:.1f} s, "
                  f"server peak +{peak_mib:.0f} MiB above idle; {len(small_times)} small requests meanwhile, "
                  f"slowest {slowest:.1f} s{extra}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

"""The README's ``lingbot-depth doctor`` examples, regenerated: ``.venv/bin/python test/doctor_examples.py``.

Each example is a real graph: the depth node (classical estimator, on the package's Fast DDS profile, as the
launch file starts it) and a camera + LiDAR driver in its own process (``test/doctor_graph.py``: the demo's
procedural scene, 640x480 at 10 Hz, best effort); then ``lingbot-depth doctor --ros`` in a third process, its text
report printed:

* ``healthy``: the driver on the package's profile too;
* ``dds-defaults``: the driver started without the profile variable (Fast DDS defaults): large images go as UDP
  fragments, and are late or lost;
* ``camera-info-size``: the driver's CameraInfo says 1280x960 for its 640x480 images (a binned image with the
  full-resolution CameraInfo).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "test"))
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(120, 200)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(
    os.pathsep) if p])
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("PYTHONUNBUFFERED", "1")

from ros_harness import NodeProcess  # noqa: E402

from lingbot_depth_ros.deploy.dds import PROFILE_NAMES, fastdds_major_version, profile_env_var  # noqa: E402
from lingbot_depth_ros.deploy.node_process import stop_node  # noqa: E402

PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
#: name -> (the driver's faults, whether the driver is on the profile, the doctor's arguments)
EXAMPLES = {"healthy": ({}, True, ["--ros"]), "dds-defaults": ({}, False, ["--ros", "--only", "graph"]),
            "camera-info-size": ({"info_size": [1280, 960]}, True, ["--ros", "--only", "graph"])}
ENTRY_POINT = Path(sys.executable).parent / "lingbot-depth"


def _profile_env() -> dict[str, str]:
    major = fastdds_major_version() or 2
    variable = profile_env_var(major) or PROFILE_VARIABLES[0]
    return {variable: str(REPO_ROOT / "config" / PROFILE_NAMES[major])}


@contextlib.contextmanager
def driver(faults: dict, on_profile: bool, width: int, height: int) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    if on_profile:
        env.update(_profile_env())
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "test" / "doctor_graph.py"), "--width", str(width),
                             "--height", str(height), "--faults", json.dumps(faults)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "publishing", "the driver did not start"
        yield
    finally:
        stop_node(proc, timeout_s=10)


def run(names: Sequence[str], timeout_s: float, width: int, height: int) -> None:
    os.environ.update(_profile_env())  # the node's and the doctor's shell: on the profile, as the README says
    with NodeProcess(params={"estimator": "classical", "mode": "completion"}) as node:
        node.wait_ready()
        for name in names:
            faults, on_profile, args = EXAMPLES[name]
            with driver(faults, on_profile, width, height):
                result = subprocess.run([str(ENTRY_POINT), "doctor", *args, "--timeout", str(timeout_s)],
                                        capture_output=True, text=True, cwd=REPO_ROOT)
            print(f"### {name} (exit status {result.returncode})\n$ lingbot-depth doctor {' '.join(args)}\n"
                  f"{result.stdout}{result.stderr}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", nargs="*", metavar="EXAMPLE", help=f"of {', '.join(EXAMPLES)} (default: all)")
    parser.add_argument("--timeout", type=float, default=6.0, help="the doctor's --timeout [s]")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.examples) - set(EXAMPLES))
    if unknown:
        parser.error(f"unknown example {', '.join(unknown)}")
    run(args.examples or list(EXAMPLES), args.timeout, args.width, args.height)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fault behaviour of the depth node over real rclpy (issue 7).

* checkpoint faults at startup: the node exits 1 with one FATAL line naming the file and the problem;
* estimator out-of-memory: logged, retried at a lower resolution level (or the frame dropped), node runs on;
* sensor faults: a stream stops (diagnostics WARN naming it, OK again when it resumes), auto mode falls
  back to monocular while sparse depth is missing, stamps jump backwards (no stale pairing), the
  resolution changes mid-stream, a burst of 100 malformed messages;
* auto mode (the default) with a completion-only estimator and no sparse depth: nothing published, said once;
* diagnostics content and the expected-rate threshold.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from ros_harness import NodeProcess, Recorder, RosHarness, StampClock, in_process_node, wait_until
from sensor_msgs.msg import Image
from waiting import Pacer, quiet_for, repeat_until

from lingbot_depth_ros.errors import EstimatorOutOfMemory
from lingbot_depth_ros.estimators import COMPLETION, MONOCULAR, create_estimator
from lingbot_depth_ros.estimators.base import DepthEstimate, DepthEstimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, depth_m_to_image, numpy_to_image
from lingbot_depth_ros.synthetic.generator import SceneGenerator
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint, tiny_state

pytestmark = pytest.mark.ros
OK, WARN, ERROR = 0, 1, 2


# --------------------------------------------------------------------------- shared helpers
@pytest.fixture(scope="module")
def scene() -> dict[str, Any]:
    """Procedural scene frames: 640x480 and 320x240 (same camera, K scaled), RGB + LiDAR sparse depth [m]."""
    big = SceneGenerator(width=640, height=480, seed=3).frame(0)
    small = SceneGenerator(width=320, height=240, seed=3).frame(0)
    return {"big": big, "small": small}


def level_of(status: DiagnosticStatus) -> int:
    return status.level[0] if isinstance(status.level, (bytes, bytearray)) else int(status.level)


def pipeline_status(msg: DiagnosticArray) -> DiagnosticStatus | None:
    for status in msg.status:
        if status.name == "lingbot_depth_node: pipeline":
            return status
    return None


class DiagnosticsWatch:
    """Records /diagnostics on the harness node; waits for a pipeline status matching a predicate."""

    def __init__(self, harness: RosHarness) -> None:
        self.recorder = Recorder()
        self._sub = harness.node.create_subscription(DiagnosticArray, "/diagnostics", self.recorder, 10)

    def mark(self) -> int:
        return len(self.recorder.messages)

    def find(self, predicate: Callable[[DiagnosticStatus], bool], since: int = 0) -> DiagnosticStatus | None:
        """The first pipeline status recorded since message ``since`` that matches ``predicate``, or None."""
        for msg in list(self.recorder.messages[since:]):
            status = pipeline_status(msg)
            if status is not None and predicate(status):
                return status
        return None

    def last(self) -> str:
        """The last three pipeline statuses, for a failure message."""
        last = [pipeline_status(m) for m in self.recorder.messages[-3:]]
        return "last diagnostics: " + " | ".join(f"{level_of(s)} {s.message}" for s in last if s is not None)

    def wait_for(self, predicate: Callable[[DiagnosticStatus], bool], since: int = 0,
                 timeout: float = 10.0) -> DiagnosticStatus:
        if not self.recorder.wait(lambda _: self.find(predicate, since) is not None, timeout):
            raise AssertionError("no matching diagnostics; " + self.last())
        return self.find(predicate, since)  # type: ignore[return-value]


def values_of(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def wait_output(harness: RosHarness, stamp: int, timeout: float = 15.0, topic: str = "depth/image") -> Any:
    rec = harness.recorders[topic]
    assert rec.wait(lambda _: rec.by_stamp(stamp) is not None, timeout), f"no {topic} output for stamp {stamp}"
    return rec.by_stamp(stamp)


def publish_set(harness: RosHarness, frame: Any, stamp: int, *, image: bool = True, info: bool = True,
                sparse: bool = True) -> None:
    """One set of the selected streams at ``stamp``: sparse depth, camera_info, then the image."""
    header = harness.header(stamp)
    if sparse:
        harness.pub_sparse.publish(depth_m_to_image(frame.sparse_depth_m, header, "16UC1"))
    if info:
        harness.pub_info.publish(intrinsics_to_camera_info(frame.intrinsics, header))
    if image:
        harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))


def publish_for(harness: RosHarness, frame: Any, clock: StampClock, seconds: float, rate_hz: float = 10.0, *,
                image: bool = True, info: bool = True, sparse: bool = True) -> list[int]:
    """A camera: ``seconds * rate_hz`` sets of the selected streams paced at ``rate_hz`` (a loaded machine
    stretches it: only for checks that hold whatever the spacing); the image stamps sent."""
    stamps = []
    pacer = Pacer(rate_hz)
    for _ in range(max(1, round(seconds * rate_hz))):
        stamp = clock.next()
        publish_set(harness, frame, stamp, image=image, info=info, sparse=sparse)
        if image:
            stamps.append(stamp)
        pacer.wait()
    return stamps


def publish_until(harness: RosHarness, frame: Any, clock: StampClock, until: Callable[[], object], what: str, *,
                  rate_hz: float = 10.0, timeout: float = 20.0, image: bool = True, info: bool = True,
                  sparse: bool = True, into: list[int] | None = None) -> list[int]:
    """A camera at ``rate_hz`` (the selected streams) until ``until()`` holds (fails naming ``what`` after
    ``timeout`` [s]); the image stamps sent, appended to ``into`` as they go when given."""
    stamps: list[int] = [] if into is None else into

    def one_set() -> None:
        stamp = clock.next()
        publish_set(harness, frame, stamp, image=image, info=info, sparse=sparse)
        if image:
            stamps.append(stamp)

    repeat_until(one_set, until, timeout, what, period_s=1.0 / rate_hz)
    return stamps


# --------------------------------------------------------------------------- checkpoint faults at startup
def _wrong_architecture_checkpoint(path: Path) -> tuple[str, str, str]:
    """A tiny checkpoint with one key renamed (missing + unexpected) and one tensor reshaped."""
    config, state = tiny_state(seed=0)
    missing = "depth_head.output_blocks.0.weight" if "depth_head.output_blocks.0.weight" in state else \
        sorted(k for k in state if k.startswith("depth_head."))[0]
    stray = "depth_head.stray_block.weight"
    state[stray] = state.pop(missing)
    reshaped = "encoder.backbone.cls_token" if "encoder.backbone.cls_token" in state else \
        sorted(k for k in state if k.startswith("encoder.") and state[k].ndim >= 2)[0]
    state[reshaped] = torch.zeros(tuple(state[reshaped].shape[:-1]) + (state[reshaped].shape[-1] + 1,))
    torch.save({"model_config": config, "model": state}, path)
    return missing, stray, reshaped


@pytest.fixture(scope="module")
def checkpoint_faults(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Start one node per broken checkpoint, all at once, and collect exit code and log."""
    root = tmp_path_factory.mktemp("checkpoints")
    cases: dict[str, dict[str, Any]] = {}
    cases["missing"] = {"path": root / "absent" / "model.pt"}
    good = make_tiny_checkpoint(root / "good.pt", seed=0)
    blob = good.read_bytes()
    truncated = root / "truncated_model.pt"
    truncated.write_bytes(blob[: len(blob) // 2])
    cases["truncated"] = {"path": truncated}
    wrong = root / "wrong_arch_model.pt"
    cases["wrong_architecture"] = {"path": wrong, "keys": _wrong_architecture_checkpoint(wrong)}
    procs = {}
    with contextlib.ExitStack() as stack:
        for name, case in cases.items():
            procs[name] = stack.enter_context(NodeProcess(
                {"estimator": "lingbot", "lingbot.checkpoint": str(case["path"]), "lingbot.device": "cpu"},
                log_path=root / f"{name}.log"))
        for name, proc in procs.items():
            cases[name]["returncode"] = proc.wait_exit(timeout=60)
            cases[name]["log"] = proc.log()
    return cases


def _fatal_line(case: dict[str, Any]) -> str:
    assert case["returncode"] == 1, f"expected exit 1, got {case['returncode']}:\n{case['log']}"
    assert "Traceback" not in case["log"], case["log"]
    fatal = [line for line in case["log"].splitlines() if "FATAL" in line]
    assert len(fatal) == 1, f"expected one FATAL line:\n{case['log']}"
    return fatal[0]


def test_missing_checkpoint_fails_at_startup_naming_the_file(checkpoint_faults) -> None:
    case = checkpoint_faults["missing"]
    line = _fatal_line(case)
    assert "checkpoint file not found" in line and str(case["path"]) in line, line


def test_truncated_checkpoint_fails_at_startup_naming_the_file(checkpoint_faults) -> None:
    case = checkpoint_faults["truncated"]
    line = _fatal_line(case)
    assert case["path"].name in line, line
    assert re.search(r"unreadable checkpoint|refused to load|corrupt", line), line


def test_wrong_architecture_names_missing_unexpected_and_misshaped_keys(checkpoint_faults) -> None:
    case = checkpoint_faults["wrong_architecture"]
    line = _fatal_line(case)
    missing, stray, reshaped = case["keys"]
    assert case["path"].name in line and "does not match the architecture" in line, line
    assert re.search(r"1 missing key\(s\): .*" + re.escape(missing), line), line
    assert re.search(r"1 unexpected key\(s\): .*" + re.escape(stray), line), line
    assert re.search(r"1 shape mismatch\(es\): .*" + re.escape(reshaped), line), line


# --------------------------------------------------------------------------- in-process node + test estimator
class ScriptedEstimator(DepthEstimator):
    """Both modes; raises EstimatorOutOfMemory when ``fails(level, call_index)``; records every call.

    ``calls``: (resolution_level, mode, succeeded) per call. Output: a constant 2 m plane.
    """

    name = "scripted"
    supported_modes = frozenset({COMPLETION, MONOCULAR})

    def __init__(self, fails: Callable[[int, int], bool] = lambda level, index: False) -> None:
        self.resolution_level = 9
        self.fails = fails
        self.calls: list[tuple[int, str, bool]] = []

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        mode = MONOCULAR if sparse_depth_m is None else COMPLETION
        level = self.resolution_level
        failing = self.fails(level, len(self.calls))
        self.calls.append((level, mode, not failing))
        if failing:
            raise EstimatorOutOfMemory(f"injected out of memory at resolution_level={level}")
        h, w = rgb.shape[:2]
        return DepthEstimate(depth_m=np.full((h, w), 2.0, np.float32), valid=np.ones((h, w), bool))


def send(harness: RosHarness, frame: Any, stamp: int) -> None:
    harness.publish_frame(frame.rgb, frame.intrinsics, frame.sparse_depth_m, stamp)


def test_oom_retries_at_a_lower_level_and_keeps_running(scene, capfd) -> None:
    frame = scene["small"]
    clock = StampClock(5000)
    estimator = ScriptedEstimator(fails=lambda level, index: level > 3)  # fits at level 3 and below
    with in_process_node(estimator, mode=COMPLETION, oom_retry=True, oom_retry_level_step=3) as (node, harness):
        first = clock.next()  # 9 fails, the one retry at 6 fails too -> dropped, level stays 6
        send(harness, frame, first)
        assert wait_until(lambda: node.channels[0].drops["out_of_memory"] == 1), dict(node.channels[0].drops)
        assert estimator.calls == [(9, COMPLETION, False), (6, COMPLETION, False)]
        assert estimator.resolution_level == 6
        second = clock.next()  # 6 fails, retry at 3 succeeds and is published
        send(harness, frame, second)
        depth = depth_m_from_image(wait_output(harness, second))
        assert np.allclose(depth, 2.0)
        assert estimator.calls[2:] == [(6, COMPLETION, False), (3, COMPLETION, True)]
        third = clock.next()  # the lower level is kept: no more failures
        send(harness, frame, third)
        wait_output(harness, third)
        assert estimator.calls[4:] == [(3, COMPLETION, True)]
        assert harness.recorders["depth/image"].by_stamp(first) is None
        assert node.oom_events == 2 and node.channels[0].drops["out_of_memory"] == 1  # frames that hit out-of-memory
    log = capfd.readouterr().err
    assert "out of memory at resolution level 9" in log and "retrying at level 6" in log, log[-2000:]
    assert "dropped frame (out_of_memory)" in log, log[-2000:]


def test_oom_without_retry_drops_the_frame_then_processes_the_next(scene, capfd) -> None:
    frame = scene["small"]
    clock = StampClock(6000)
    estimator = ScriptedEstimator(fails=lambda level, index: 1 <= index <= 3)
    params = {"mode": COMPLETION, "oom_retry": False, "diagnostics.period_s": 0.2}
    with in_process_node(estimator, **params) as (node, harness):
        watch = DiagnosticsWatch(harness)
        ok_stamp = clock.next()
        send(harness, frame, ok_stamp)
        wait_output(harness, ok_stamp)
        failed = []
        for expected_drops in (1, 2, 3):  # three frames in a row fail: each dropped, never retried
            failed.append(clock.next())
            send(harness, frame, failed[-1])
            drops = node.channels[0].drops
            assert wait_until(lambda drops=drops, n=expected_drops: drops["out_of_memory"] == n), dict(drops)
        assert [c[0] for c in estimator.calls] == [9, 9, 9, 9], "no retry and no level change without oom_retry"
        status = watch.wait_for(lambda s: level_of(s) == ERROR, since=watch.mark())
        assert "estimator failing: the last 3 frames failed" in status.message, status.message
        assert values_of(status)["frames dropped out_of_memory"] == "3"
        recovered = clock.next()
        send(harness, frame, recovered)
        wait_output(harness, recovered)
        assert estimator.calls[-1] == (9, COMPLETION, True)
        for stamp in failed:
            assert harness.recorders["depth/image"].by_stamp(stamp) is None
        mark = watch.mark()
        watch.wait_for(lambda s: level_of(s) != ERROR, since=mark)
    log = capfd.readouterr().err
    assert "dropped frame (out_of_memory): injected out of memory at resolution_level=9" in log, log[-2000:]
    assert "retrying" not in log


def test_expected_rate_threshold_warns_when_output_is_slower(scene) -> None:
    frame = scene["small"]
    clock = StampClock(7000)
    params = {"mode": COMPLETION, "diagnostics.period_s": 0.2, "diagnostics.expected_rate_hz": 40.0,
              "diagnostics.rate_tolerance": 0.5}
    with in_process_node(ScriptedEstimator(), **params) as (node, harness):
        watch = DiagnosticsWatch(harness)
        publish_until(harness, frame, clock, lambda: watch.find(lambda s: level_of(s) == WARN and
                                                                "below expected" in s.message),
                      "a WARN 'below expected'", rate_hz=10.0)
        status = watch.wait_for(lambda s: level_of(s) == WARN and "below expected" in s.message)
        assert re.search(r"output rate \d+\.\d Hz below expected 40\.0 Hz", status.message), status.message
        # Lower the expectation at run time: 10 Hz meets 8 Hz * (1 - 0.5) -> OK while frames keep coming.
        assert node.set_parameters([Parameter("diagnostics.expected_rate_hz", value=8.0)])[0].successful
        mark = watch.mark()
        publish_until(harness, frame, clock, lambda: watch.find(lambda s: level_of(s) == OK, since=mark),
                      "an OK status at 10 Hz", rate_hz=10.0)
        status = watch.wait_for(lambda s: level_of(s) == OK, since=mark)
        assert float(values_of(status)["rate output [Hz]"]) > 4.0


# --------------------------------------------------------------------------- sensor faults on a node process
@pytest.fixture(scope="module")
def classical_node(tmp_path_factory, scene) -> Iterator[tuple[NodeProcess, RosHarness, DiagnosticsWatch]]:
    log = tmp_path_factory.mktemp("faults") / "node.log"
    params = {"estimator": "classical", "mode": "completion", "slop_s": 0.02, "diagnostics.period_s": 0.2,
              "diagnostics.stale_input_s": 0.6}
    with NodeProcess(params, log_path=log) as node:
        node.wait_ready()
        harness = RosHarness()
        try:
            harness.wait_connected()
            watch = DiagnosticsWatch(harness)
            prime(harness, scene["small"], StampClock(1_000))
            yield node, harness, watch
        finally:
            harness.close()


def prime(harness: RosHarness, frame: Any, clock: StampClock, timeout: float = 20.0) -> None:
    """Send frames until one comes back: discovery is complete in both directions (no lost first output)."""
    rec = harness.recorders["depth/image"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stamp = clock.next()
        send(harness, frame, stamp)
        if rec.wait(lambda _, stamp=stamp: rec.by_stamp(stamp) is not None, 0.5):
            return
    raise AssertionError("the node under test never answered")


def test_stream_stops_warn_names_it_and_recovers(classical_node, scene) -> None:
    node, harness, watch = classical_node
    frame = scene["small"]
    clock = StampClock(10_000)
    # each phase: the streams keep coming (10 Hz) until the diagnostics say what the test expects
    mark = watch.mark()
    publish_until(harness, frame, clock, lambda: watch.find(lambda s: level_of(s) == OK, since=mark), "OK")
    status = watch.wait_for(lambda s: level_of(s) == OK, since=mark)
    assert status.message.startswith("completion at")

    mark = watch.mark()  # sparse depth stops, image and camera_info go on
    sparse_stopped = lambda s: level_of(s) == WARN and "sparse_depth stopped" in s.message  # noqa: E731
    publish_until(harness, frame, clock, lambda: watch.find(sparse_stopped, since=mark), "WARN sparse_depth stopped",
                  sparse=False)
    assert node.proc.poll() is None

    mark = watch.mark()  # resumes
    stamps = publish_until(harness, frame, clock, lambda: watch.find(lambda s: level_of(s) == OK, since=mark),
                           "OK after sparse_depth resumed")
    wait_output(harness, stamps[-1])

    mark = watch.mark()  # the camera stops (image and camera_info), LiDAR goes on: both are named
    def camera_stopped(s: DiagnosticStatus) -> bool:
        return level_of(s) == WARN and "image stopped" in s.message and "camera_info stopped" in s.message

    publish_until(harness, frame, clock, lambda: watch.find(camera_stopped, since=mark),
                  "WARN naming image and camera_info stopped", image=False, info=False)
    mark = watch.mark()
    stamps = publish_until(harness, frame, clock, lambda: watch.find(lambda s: level_of(s) == OK, since=mark),
                           "OK after the camera resumed")
    wait_output(harness, stamps[-1])
    assert node.proc.poll() is None


def test_diagnostics_report_rates_latency_drops_estimator_and_last_warning(classical_node, scene) -> None:
    node, harness, watch = classical_node
    frame = scene["small"]
    clock = StampClock(20_000)
    statuses = [s for s in map(pipeline_status, list(watch.recorder.messages)) if s is not None]
    bad_before = int(values_of(statuses[-1])["frames dropped bad_input"]) if statuses else 0
    bad = clock.next()  # one bad frame: counted as bad_input and shown as the last warning
    header = harness.header(bad)
    harness.pub_sparse.publish(depth_m_to_image(np.zeros((240, 320), np.float32), header, "16UC1"))
    harness.pub_info.publish(intrinsics_to_camera_info(frame.intrinsics, header))
    harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))
    # the bad set is taken (counted) before the next: one arriving first would replace it (counted stale)
    watch.wait_for(lambda s: int(values_of(s)["frames dropped bad_input"]) > bad_before, since=watch.mark())
    mark = watch.mark()
    # a camera at 10 Hz for 1.5 s (15 sets): the rate bounds below hold whatever their spacing
    publish_for(harness, frame, clock, 1.5, rate_hz=10.0)
    status = watch.wait_for(lambda s: level_of(s) == OK and float(values_of(s)["rate output [Hz]"]) > 0,
                            since=mark)
    values = values_of(status)
    assert status.hardware_id.startswith("classical (smoothing=")  # estimator.describe(): name and options
    assert values["estimator"] == status.hardware_id and values["mode"] == "completion"
    rates = {stream: float(values[f"rate {stream} [Hz]"])
             for stream in ("image", "camera_info", "sparse_depth", "synchronized", "output")}
    # 10 Hz for 1.5 s; the 5 s window also spans the idle time after it, so only loose bounds are stable
    assert all(1.0 < rate < 15.0 for rate in rates.values()), rates
    assert rates["output"] <= rates["synchronized"] * 1.2 and rates["synchronized"] <= rates["image"] * 1.2, rates
    for stage in ("convert", "inference", "postprocess", "publish", "total"):
        mean, p95 = float(values[f"latency {stage} mean [ms]"]), float(values[f"latency {stage} p95 [ms]"])
        assert 0.0 <= mean < 2000 and 0.0 <= p95 < 2000, (stage, mean, p95)  # numbers, not "nan"
    assert float(values["latency inference mean [ms]"]) > 0
    for reason in ("stale", "no_sync", "bad_input", "estimator_error", "out_of_memory", "internal_error"):
        assert re.fullmatch(r"\d+", values[f"frames dropped {reason}"]), values
    assert int(values["frames dropped bad_input"]) >= 1, sorted(values.items())
    assert "sparse depth has no valid measurement" in values["last warning"]
    assert int(values["frames published"]) > 0


def _const_sparse(shape: tuple[int, int], value_m: float) -> np.ndarray:
    sparse = np.zeros(shape, np.float32)
    sparse[4::8, 4::8] = value_m
    return sparse


def test_stamps_jumping_backwards_reset_the_synchronizer_without_stale_pairs(classical_node, scene) -> None:
    """A bag loop: stamps restart; sparse/info queued before the jump must never pair with a new image.

    Before the jump, sparse depth of 3 m and fx=250 are sent for stamp T+0.9 s whose image is lost.
    After the jump the stamps replay T..T+0.9 s with sparse 1.5 m and fx=200, the image of each
    frame arriving before its sparse depth: without a reset, the new T+0.9 s image would pair with
    the queued 3 m / fx=250 messages at once.
    """
    node, harness, _ = classical_node
    frame = scene["small"]
    h, w = frame.rgb.shape[:2]
    old_k = CameraIntrinsics(250.0, 250.0, (w - 1) / 2, (h - 1) / 2, w, h)
    new_k = CameraIntrinsics(200.0, 200.0, (w - 1) / 2, (h - 1) / 2, w, h)
    base = 30_000 * 1_000_000_000
    stamps = [base + i * 100_000_000 for i in range(10)]
    pacer = Pacer(20.0)  # a 20 Hz camera: only the last set with an image must come out
    for i, stamp in enumerate(stamps):  # first pass: old values; image of the last frame lost
        header = harness.header(stamp)
        harness.pub_sparse.publish(depth_m_to_image(_const_sparse((h, w), 3.0), header, "16UC1"))
        harness.pub_info.publish(intrinsics_to_camera_info(old_k, header))
        if i < len(stamps) - 1:
            harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))
        pacer.wait()
    wait_output(harness, stamps[-2])
    depth_rec, info_rec = harness.recorders["depth/image"], harness.recorders["depth/camera_info"]
    wait_output(harness, stamps[-2], topic="depth/camera_info")
    before, infos_before = len(depth_rec.messages), len(info_rec.messages)
    resets_logged = node.log().count("stamp jumped backwards")
    for stamp in stamps:  # the loop: same stamps again, new values, image first; each frame out before the next
        header = harness.header(stamp)
        harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))
        quiet_for(0.03, "the image arrives before its sparse depth and camera_info (the order under test)")
        harness.pub_sparse.publish(depth_m_to_image(_const_sparse((h, w), 1.5), header, "16UC1"))
        harness.pub_info.publish(intrinsics_to_camera_info(new_k, header))
        for rec, start in ((depth_rec, before), (info_rec, infos_before)):
            assert rec.wait(lambda m, start=start, sent=header.stamp: any(x.header.stamp == sent for x in m[start:]),
                            15), f"no output for the new stamp {stamp}"
    after = depth_rec.messages[before:]
    assert len(after) == 10, f"{len(after)} outputs for the 10 frames after the jump"
    for msg in after:
        valid = depth_m_from_image(msg)
        median = float(np.nanmedian(valid))
        assert abs(median - 1.5) < 0.1, f"output at {msg.header.stamp} paired with pre-jump sparse ({median} m)"
    new_infos = info_rec.messages[infos_before:]
    assert len(new_infos) == 10 and all(abs(m.k[0] - 200.0) < 1e-6 for m in new_infos), [m.k[0] for m in new_infos]
    assert node.log().count("stamp jumped backwards") > resets_logged or \
        "stamp jumped backwards (bag loop or clock reset): synchronizer reset" in node.log()
    assert node.proc.poll() is None


def test_resolution_change_mid_stream_is_followed(classical_node, scene) -> None:
    node, harness, _ = classical_node
    big, small = scene["big"], scene["small"]
    clock = StampClock(40_000)
    first = clock.next()
    send(harness, big, first)
    out = wait_output(harness, first)
    assert (out.width, out.height) == (640, 480)
    for _ in range(3):  # the camera switches to 320x240: image, CameraInfo and sparse depth together
        stamp = clock.next()
        send(harness, small, stamp)
        wait_output(harness, stamp)
    depth = wait_output(harness, stamp)
    info = wait_output(harness, stamp, topic="depth/camera_info")
    colour = wait_output(harness, stamp, topic="depth/colorized")
    assert (depth.width, depth.height) == (320, 240) and (info.width, info.height) == (320, 240)
    assert (colour.width, colour.height, colour.encoding) == (320, 240, "rgb8")
    cloud = wait_output(harness, stamp, topic="points")  # organized, stride 2
    assert (cloud.width, cloud.height) == (160, 120), (cloud.width, cloud.height)
    expected = big.intrinsics.scaled(320, 240).matrix().reshape(-1)
    assert np.allclose(np.asarray(info.k), expected, atol=1e-6), (list(info.k), expected)
    assert np.isfinite(depth_m_from_image(depth)).mean() > 0.5
    back = clock.next()  # and back again
    send(harness, big, back)
    out = wait_output(harness, back)
    assert (out.width, out.height) == (640, 480)


def _malformed_set(rng: np.random.Generator, harness: RosHarness, frame: Any, stamp: int) -> None:
    """One synchronized set where one or more of image / camera_info / sparse depth is malformed."""
    header = harness.header(stamp)
    h, w = frame.rgb.shape[:2]
    image = numpy_to_image(frame.rgb, "rgb8", header)
    info = intrinsics_to_camera_info(frame.intrinsics, header)
    sparse = depth_m_to_image(frame.sparse_depth_m, header, "16UC1")
    broken = rng.choice(["image", "info", "sparse", "all"])
    if broken in ("image", "all"):
        kind = rng.integers(5)
        if kind == 0:
            image = Image(header=header, height=h, width=w, encoding=str(rng.choice(["yuv422", "bayer_rggb8",
                          "rgb16", "garbage", "", "32FC1"])), step=w * 3, data=rng.bytes(int(rng.integers(0, 4096))))
        elif kind == 1:
            image = Image(header=header, height=h, width=w, encoding="rgb8", step=w * 3,
                          data=bytes(int(rng.integers(0, w * h * 3))))
        elif kind == 2:
            image = Image(header=header, height=0, width=0, encoding="rgb8", step=0)
        elif kind == 3:
            image = Image(header=header, height=h, width=w, encoding="bgra8", step=w, data=bytes(w * h))
        else:
            image = Image(header=header, height=2 ** 20, width=2 ** 20, encoding="mono8", step=2 ** 20, data=b"x")
    if broken in ("info", "all"):
        k = np.asarray(info.k).copy()
        kind = rng.integers(4)
        if kind == 0:
            k[:] = 0.0
        elif kind == 1:
            k[int(rng.choice([0, 2, 4, 5]))] = np.nan
        elif kind == 2:
            k[:] = rng.normal(0, 1e6, 9)
            k[0] = -abs(k[0])
        else:
            info.width, info.height = int(rng.integers(1, 5000)), int(rng.integers(1, 5000))
        info.k = k.tolist()
    if broken in ("sparse", "all"):
        kind = rng.integers(4)
        if kind == 0:
            sparse = Image(header=header, height=h, width=w, encoding=str(rng.choice(["8UC1", "rgb8", "64FC1"])),
                           step=w, data=rng.bytes(w * h))
        elif kind == 1:
            sparse = Image(header=header, height=h, width=w, encoding="16UC1", step=w * 2, data=bytes(100))
        elif kind == 2:
            sparse = Image(header=header, height=0, width=0, encoding="32FC1", step=0)
        else:
            sparse = numpy_to_image(np.full((h, w), np.nan, np.float32), "32FC1", header)
    harness.pub_sparse.publish(sparse)
    harness.pub_info.publish(info)
    harness.pub_image.publish(image)


@pytest.fixture(scope="module")
def malformed_burst(classical_node, scene) -> dict[str, Any]:
    """100 malformed sets (random encodings, truncated/zero-size data, garbage/NaN K, backwards stamps)."""
    node, harness, _ = classical_node
    frame = scene["small"]
    clock = StampClock(50_000)
    rng = np.random.default_rng(7)
    log_before = len(node.log())
    pacer = Pacer(250.0)  # a burst: the checks hold whatever its spacing
    for i in range(100):
        stamp = clock.next()
        if i % 10 == 9:  # every tenth set also jumps back in time
            stamp -= 5_000_000_000
        _malformed_set(rng, harness, frame, stamp)
        pacer.wait()
    fence = clock.next() + 10_000_000_000  # a good set after the burst: once it is out, the burst was handled
    send(harness, frame, fence)
    harness.recorders["depth/image"].wait(lambda _: harness.recorders["depth/image"].by_stamp(fence) is not None,
                                          15)
    alive = node.proc.poll() is None
    return {"alive": alive, "log": node.log()[log_before:], "clock": clock}


def test_burst_of_100_malformed_messages_leaves_the_node_running(classical_node, malformed_burst, scene) -> None:
    node, harness, _ = classical_node
    assert malformed_burst["alive"], node.log()[-3000:]
    assert "dropped frame (bad_input)" in malformed_burst["log"]
    assert "Traceback" not in node.log() and "internal_error" not in malformed_burst["log"]
    good = malformed_burst["clock"].next() + 10_000_000_000
    send(harness, scene["small"], good)
    depth = depth_m_from_image(wait_output(harness, good))
    assert np.isfinite(depth).mean() > 0.5


def test_burst_of_malformed_messages_logs_rate_limited_warnings(malformed_burst) -> None:
    lines = [line for line in malformed_burst["log"].splitlines() if "[WARN]" in line]
    assert 1 <= len(lines) <= 25, f"{len(lines)} warning lines for 100 malformed sets:\n" + "\n".join(lines)


# --------------------------------------------------------------------------- auto mode with the real network
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model.pt", seed=0)


def test_auto_mode_falls_back_to_monocular_while_sparse_stops(tiny_checkpoint, scene, tmp_path) -> None:
    frame = scene["small"]
    clock = StampClock(60_000)
    params = {"estimator": "lingbot", "lingbot.checkpoint": str(tiny_checkpoint), "lingbot.device": "cpu",
              "lingbot.resolution_level": 0, "sparse_timeout_s": 0.4, "diagnostics.period_s": 0.2,  # mode: default auto
              "cloud.enabled": False}
    with NodeProcess(params, log_path=tmp_path / "auto.log") as node:
        node.wait_ready()
        harness = RosHarness()
        try:
            harness.wait_connected()
            watch = DiagnosticsWatch(harness)
            # each phase: an 8 Hz camera until the node says what the test expects
            stamps = publish_until(harness, frame, clock, lambda: "auto mode runs completion" in node.log(),
                                   "'auto mode runs completion'", rate_hz=8.0, timeout=60)
            wait_output(harness, stamps[-1])
            watch.wait_for(lambda s: values_of(s).get("mode") == "auto (completion)")

            mark = watch.mark()  # sparse depth stops: images alone must still produce depth (monocular)
            rec = harness.recorders["depth/image"]
            mono: list[int] = []

            def three_monocular_outputs() -> bool:  # frames without any sparse depth
                return ("sparse depth stopped: auto mode runs monocular until it resumes" in node.log()
                        and sum(rec.by_stamp(s) is not None for s in mono) >= 3)

            publish_until(harness, frame, clock, three_monocular_outputs, "3 monocular outputs", rate_hz=8.0,
                          sparse=False, into=mono)
            wait_output(harness, mono[-1])
            status = watch.wait_for(lambda s: values_of(s).get("mode") == "auto (monocular)", since=mark)
            assert level_of(status) == WARN and "auto mode fell back to monocular" in status.message

            mark = watch.mark()  # sparse depth resumes: completion again
            back = publish_until(harness, frame, clock, lambda: node.log().count("auto mode runs completion") >= 2 and
                                 watch.find(lambda s: values_of(s).get("mode") == "auto (completion)" and
                                            level_of(s) == OK, since=mark), "auto (completion) OK again", rate_hz=8.0)
            wait_output(harness, back[-1])
            assert node.proc.poll() is None
        finally:
            harness.close()


# --------------------------------------------------------------------------- auto mode (the default) without fallback
NEEDS_SPARSE = ("estimator 'classical' needs sparse depth (no sparse_depth received); for a camera-only robot use "
                "estimator:=lingbot")


def test_default_auto_with_a_completion_only_estimator_says_once_it_needs_sparse_depth(scene, tmp_path) -> None:
    """Camera-only robot with the default estimator and mode: nothing published, one warning, diagnostics WARN;
    once LiDAR depth arrives the node runs completion; when it stops again it says so once more."""
    frame = scene["small"]
    clock = StampClock(70_000)
    params = {"estimator": "classical", "no_sync_warn_s": 0.5, "sparse_timeout_s": 0.4,
              "diagnostics.period_s": 0.2}  # mode: the default (auto)
    with NodeProcess(params, log_path=tmp_path / "auto_classical.log") as node:
        node.wait_ready()
        assert "mode auto" in node.log() and "cannot run monocular" in node.log(), node.log()
        harness = RosHarness()
        try:
            harness.wait_connected()
            watch = DiagnosticsWatch(harness)
            camera_only = publish_until(harness, frame, clock, lambda: watch.find(
                lambda s: level_of(s) == WARN and NEEDS_SPARSE in s.message), "a WARN that sparse depth is needed",
                sparse=False)
            status = watch.wait_for(lambda s: level_of(s) == WARN and NEEDS_SPARSE in s.message, timeout=15.0)
            assert values_of(status)["mode"] == "auto (waiting for sparse depth)"
            assert "inputs do not synchronize" not in status.message  # the specific reason, not the generic one
            # 15 more frames at 10 Hz: still said once (a stretch of input, whatever its exact length)
            camera_only += publish_for(harness, frame, clock, 1.5, sparse=False)
            assert wait_until(lambda: NEEDS_SPARSE in node.log(), 10.0), node.log()[-3000:]
            assert node.log().count("needs sparse depth") == 1, node.log()[-3000:]
            assert "no synchronized set" not in node.log()
            assert harness.recorders["depth/image"].messages == [], "no depth without sparse depth"

            mark = watch.mark()  # the LiDAR starts: completion
            stamps = publish_until(harness, frame, clock, lambda: watch.find(
                lambda s: values_of(s).get("mode") == "auto (completion)" and level_of(s) == OK, since=mark),
                "auto (completion) OK")
            wait_output(harness, stamps[-1])
            assert "sparse depth arriving: auto mode runs completion" in node.log()

            mark = watch.mark()  # the LiDAR stops: no monocular output, said once
            received = len(harness.recorders["depth/image"].messages)
            stopped = publish_until(harness, frame, clock, lambda: watch.find(
                lambda s: level_of(s) == WARN and "needs sparse depth (sparse_depth stopped)" in s.message,
                since=mark), "a WARN that sparse depth stopped", sparse=False)
            assert wait_until(lambda: node.log().count("needs sparse depth") == 2, 5.0), node.log()[-3000:]
            assert "needs sparse depth (sparse_depth stopped); for a camera-only robot use estimator:=lingbot; " \
                   "no depth until it resumes" in node.log()
            assert all(harness.recorders["depth/image"].by_stamp(s) is None for s in stopped)
            # nothing after the LiDAR stopped: any depth received since is of a frame sent with the LiDAR (a loaded
            # machine can deliver one late), never of a camera-only image
            completion = set(stamps)
            late = [m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec
                    for m in harness.recorders["depth/image"].messages[received:]]
            assert all(s in completion for s in late), (late, stopped)
            assert node.proc.poll() is None
        finally:
            harness.close()


def test_every_frame_dropped_for_a_camera_info_of_another_size_is_a_diagnostics_warn(scene) -> None:
    """CameraInfo of another size than the image (binning / ROI not set): every frame is a counted bad_input drop,
    and the pipeline status says so (WARN 'no depth published: the last N frames were dropped (...)'), not
    'OK at 0.0 Hz'; with the right CameraInfo it is OK again."""
    from dataclasses import replace

    frame = scene["small"]
    clock = StampClock(90_000)
    wrong = replace(frame.intrinsics, width=frame.intrinsics.width * 2, height=frame.intrinsics.height * 2)
    with in_process_node(create_estimator("classical"), mode=COMPLETION, **{"diagnostics.period_s": 0.2}) \
            as (node, harness):
        watch = DiagnosticsWatch(harness)

        def wrong_set() -> None:
            stamp = clock.next()
            header = harness.header(stamp)
            harness.pub_sparse.publish(depth_m_to_image(frame.sparse_depth_m, header, "16UC1"))
            harness.pub_info.publish(intrinsics_to_camera_info(wrong, header))
            harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))

        repeat_until(wrong_set, lambda: watch.find(lambda s: level_of(s) == WARN and "no depth published" in s.message),
                     20, "a WARN that no depth is published", period_s=0.1, detail=watch.last)
        status = watch.find(lambda s: level_of(s) == WARN and "no depth published" in s.message)
        assert status is not None and "bad_input" in status.message, status
        assert harness.recorders["depth/image"].messages == []
        assert node.channels[0].drops["bad_input"] >= 3

        mark = watch.mark()  # the right CameraInfo: depth again, and the status is OK
        publish_until(harness, frame, clock, lambda: watch.find(lambda s: level_of(s) == OK, since=mark),
                      "the pipeline OK again")
        assert harness.recorders["depth/image"].messages

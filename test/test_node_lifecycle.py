"""The managed (lifecycle) depth node, driven from this process through its real ``change_state`` /
``get_state`` services (lifecycle_msgs) while it runs in its own process, as Nav2's lifecycle manager or
``ros2 lifecycle set`` drive it; outputs checked on real topics. Classical estimator: runs on Jazzy and Kilted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_client import (
    ACTIVATE,
    ACTIVE_SHUTDOWN,
    CLEANUP,
    CONFIGURE,
    DEACTIVATE,
    INACTIVE_SHUTDOWN,
    UNCONFIGURED_SHUTDOWN,
    LifecycleClient,
)
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import NodeProcess, Recorder, RosHarness, StampClock
from waiting import Pacer, repeat_until, wait_until

from lingbot_depth_ros.ros.image_codec import depth_m_from_image
from lingbot_depth_ros.synthetic.generator import SceneGenerator

pytestmark = pytest.mark.ros
NODE = "/lingbot_depth_node"
DEPTH = "depth/image"
PARAMS = {"lifecycle": True, "estimator": "classical", "mode": "completion", "diagnostics.period_s": 0.2}
Clock = StampClock(90)  # this module's stamps: 90 s on


@pytest.fixture(scope="module")
def frame() -> Any:
    """320x240 procedural frame: RGB, K, sparse depth [m] (ground truth 1.1..13 m)."""
    return SceneGenerator(width=320, height=240, seed=3, lidar_offset_m=(0.0, 0.0, 0.0)).frame(0)


class Managed:
    """The managed node's process, a harness (inputs, outputs), its lifecycle services and /diagnostics."""

    def __init__(self, node: NodeProcess, harness: RosHarness) -> None:
        self.node, self.harness = node, harness
        self.lifecycle = LifecycleClient(harness.node, NODE)
        self.diagnostics = Recorder()
        harness.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics, 10)

    def depth_publishers(self) -> int:
        return self.harness.node.count_publishers(self.harness.subscriptions[DEPTH].topic_name)

    def image_subscribers(self) -> int:
        return self.harness.pub_image.get_subscription_count()

    def send(self, frame: Any, stamp: int) -> None:
        self.harness.publish_frame(frame.rgb, frame.intrinsics, frame.sparse_depth_m, stamp)

    def depth_for_a_frame(self, frame: Any, timeout: float = 30.0) -> np.ndarray:
        """Publish new frames until one comes back on depth/image (the node's subscriptions may still be
        matching); that depth [m], (H, W)."""
        recorder, sent = self.harness.recorders[DEPTH], []

        def publish() -> None:
            sent.append(Clock.next())
            self.send(frame, sent[-1])

        repeat_until(publish, lambda: any(recorder.by_stamp(s) is not None for s in sent), timeout,
                     "depth/image for a frame", period_s=0.5, detail=lambda: self.node.log()[-2000:])
        return depth_m_from_image(next(recorder.by_stamp(s) for s in sent if recorder.by_stamp(s) is not None))

    def set_parameter(self, name: str, value: ParameterValue) -> Any:
        client = self.harness.node.create_client(SetParameters, f"{NODE}/set_parameters")
        try:
            assert client.wait_for_service(timeout_sec=20)
            future = client.call_async(SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)]))
            wait_until(future.done, 20, "the set_parameters answer")
            return future.result().results[0]
        finally:
            self.harness.node.destroy_client(client)

    def lifecycle_status(self, predicate: Any, timeout: float = 10.0) -> Any:
        """The first /diagnostics 'lifecycle' status received from now on that matches ``predicate``."""
        start = len(self.diagnostics.messages)

        def find() -> Any:
            for msg in list(self.diagnostics.messages[start:]):
                for status in msg.status:
                    if status.name.endswith(": lifecycle") and predicate(status):
                        return status
            return None

        wait_until(lambda: find() is not None, timeout, "a matching lifecycle status on /diagnostics",
                   detail=lambda: self.node.log()[-2000:])
        return find()

    def alive(self) -> bool:
        return self.node.proc.poll() is None


def double(value: float) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)


def string(value: str) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)


@contextlib.contextmanager
def start_managed(tmp_path: Path, **extra: Any) -> Iterator[Managed]:
    """The node started with PARAMS updated by ``extra``, waited for 'ready:'."""
    with NodeProcess(dict(PARAMS, **extra), log_path=tmp_path / "node.log") as node:
        node.wait_ready()
        harness = RosHarness()
        try:
            yield Managed(node, harness)
        finally:
            harness.close()


def test_every_transition_through_the_services(tmp_path: Path, frame: Any) -> None:
    with start_managed(tmp_path) as managed:
        lifecycle, node = managed.lifecycle, managed.node
        # starts unconfigured: no outputs, no inputs
        assert lifecycle.state() == "unconfigured"
        assert managed.depth_publishers() == 0 and managed.image_subscribers() == 0

        # a transition the state has not is refused; the node stays up, in its state
        assert not lifecycle.change(ACTIVATE)
        assert not lifecycle.change(DEACTIVATE)
        assert not lifecycle.change(CLEANUP)
        assert lifecycle.state() == "unconfigured" and managed.alive()

        # configure: estimator loaded (time and memory logged), outputs made, nothing subscribed yet
        assert lifecycle.change(CONFIGURE)
        assert lifecycle.state() == "inactive"
        wait_until(lambda: managed.depth_publishers() > 0, 10, "depth/image to have the node's publisher")
        assert managed.image_subscribers() == 0
        assert "configured: estimator classical" in node.log() and "loaded in" in node.log()
        assert "memory RSS" in node.log()
        assert not lifecycle.change(CONFIGURE) and not lifecycle.change(DEACTIVATE)
        assert lifecycle.state() == "inactive"

        # activate: subscribed, depth on the real topic
        assert lifecycle.change(ACTIVATE)
        assert lifecycle.state() == "active"
        depth = managed.depth_for_a_frame(frame)
        assert depth.shape == (240, 320) and np.isfinite(depth).mean() > 0.5

        # deactivate: inputs unsubscribed, frames sent now give nothing; the output topics stay
        assert lifecycle.change(DEACTIVATE)
        assert lifecycle.state() == "inactive"
        wait_until(lambda: managed.image_subscribers() == 0, 10, "the node to unsubscribe its inputs")
        assert managed.depth_publishers() > 0
        recorder = managed.harness.recorders[DEPTH]
        before, pacer, sent = len(recorder.messages), Pacer(10), []
        for _ in range(15):  # 1.5 s of a 10 Hz camera; none of it may come out whatever the spacing
            sent.append(Clock.next())
            managed.send(frame, sent[-1])
            pacer.wait()
        assert all(recorder.by_stamp(s) is None for s in sent) and len(recorder.messages) == before

        # activate again: depth again, the estimator was not loaded a second time (kept while inactive)
        assert lifecycle.change(ACTIVATE)
        managed.depth_for_a_frame(frame)
        assert node.log().count("configured:") == 1

        # active -> inactive -> cleanup: estimator released (memory logged), outputs gone
        assert lifecycle.change(DEACTIVATE) and lifecycle.change(CLEANUP)
        assert lifecycle.state() == "unconfigured"
        assert "cleaned up: estimator released, memory RSS" in node.log()
        wait_until(lambda: managed.depth_publishers() == 0, 10, "the node's depth/image publisher to go")
        assert managed.alive()

        # a second cycle works as the first
        assert lifecycle.change(CONFIGURE) and lifecycle.change(ACTIVATE)
        managed.depth_for_a_frame(frame)
        assert node.log().count("configured:") == 2

        # shutdown from active: finalized, then the process ends by itself, status 0
        assert lifecycle.change(ACTIVE_SHUTDOWN)
        assert node.wait_exit(30) == 0, node.log()[-3000:]
        assert "shut down: finalized" in node.log()


def test_a_parameter_set_while_inactive_takes_effect_on_activate(tmp_path: Path, frame: Any) -> None:
    with start_managed(tmp_path) as managed:
        lifecycle = managed.lifecycle
        assert lifecycle.change(CONFIGURE) and lifecycle.change(ACTIVATE)
        assert np.nanmax(managed.depth_for_a_frame(frame)) > 6.0  # the scene reaches 13 m

        assert lifecycle.change(DEACTIVATE)
        result = managed.set_parameter("depth.max_m", double(4.0))
        assert result.successful, result.reason
        # what configure built is fixed until cleanup: refused with the way to change it
        result = managed.set_parameter("estimator", string("nearest"))
        assert not result.successful and "unconfigured" in result.reason, result.reason
        # a parameter that selects the process's kind of node is never settable
        result = managed.set_parameter("lifecycle", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=False))
        assert not result.successful

        assert lifecycle.change(ACTIVATE)
        depth = managed.depth_for_a_frame(frame)
        assert np.nanmax(depth) <= 4.0 and np.isfinite(depth).any()
        assert lifecycle.change(DEACTIVATE) and lifecycle.change(INACTIVE_SHUTDOWN)
        assert managed.node.wait_exit(30) == 0


def test_an_inconsistent_parameter_fails_configure_with_the_reason_and_the_node_stays_up(tmp_path: Path,
                                                                                       frame: Any) -> None:
    with start_managed(tmp_path, **{"depth.min_m": 50.0, "depth.max_m": 20.0}) as managed:
        lifecycle = managed.lifecycle
        assert not lifecycle.change(CONFIGURE)
        assert lifecycle.state() == "unconfigured" and managed.alive()
        reason = "depth.min_m (50.0) must be below depth.max_m (20.0)"
        assert f"configure failed: {reason}" in managed.node.log()
        # the reason also where a monitor reads it (ChangeState answers only success)
        status = managed.lifecycle_status(lambda s: reason in s.message)
        assert status.level == DiagnosticStatus.ERROR
        assert managed.depth_publishers() == 0

        # set right while unconfigured, then configure works: the value set is the one used
        result = managed.set_parameter("depth.min_m", double(0.0))
        assert result.successful, result.reason
        assert lifecycle.change(CONFIGURE) and lifecycle.change(ACTIVATE)
        assert np.nanmax(managed.depth_for_a_frame(frame)) <= 20.0
        managed.lifecycle_status(lambda s: s.level == DiagnosticStatus.OK and s.message == "active")


def test_a_bad_value_or_a_missing_checkpoint_fails_configure_not_the_process(tmp_path: Path) -> None:
    bad = {"depth.max_m": "far", "estimator": "lingbot", "lingbot.checkpoint": "/nonexistent/model.pt"}
    with start_managed(tmp_path, **bad) as managed:
        lifecycle = managed.lifecycle
        # a value of the wrong type, which the plain node dies of at start: kept for configure to refuse
        assert not lifecycle.change(CONFIGURE)
        assert "configure failed: depth.max_m must be a double" in managed.node.log()
        assert lifecycle.state() == "unconfigured" and managed.alive()

        # a checkpoint that is not there: the estimator fails to load, the reason logged, the node stays
        assert managed.set_parameter("depth.max_m", double(50.0)).successful
        assert not lifecycle.change(CONFIGURE)
        log = managed.node.log()
        assert log.count("configure failed:") == 2
        failure = log[log.rindex("configure failed:"):].splitlines()[0]
        assert "/nonexistent/model.pt" in failure or "torch" in failure, failure  # Kilted: no torch installed
        assert lifecycle.state() == "unconfigured" and managed.alive()
        assert managed.depth_publishers() == 0

        # and shutdown from unconfigured ends it cleanly
        assert lifecycle.change(UNCONFIGURED_SHUTDOWN)
        assert managed.node.wait_exit(30) == 0


def test_autostart_configures_and_activates_without_a_manager(tmp_path: Path, frame: Any) -> None:
    with start_managed(tmp_path, autostart=True) as managed:
        assert managed.lifecycle.state() == "active"
        assert "ready: managed node, state active" in managed.node.log()
        managed.depth_for_a_frame(frame)
        # still managed: a manager (or an operator) can take it down
        assert managed.lifecycle.change(DEACTIVATE)
        assert managed.lifecycle.state() == "inactive"


def test_autostart_with_a_failing_configure_stays_unconfigured_and_up(tmp_path: Path) -> None:
    with start_managed(tmp_path, **{"autostart": True, "depth.min_m": 50.0, "depth.max_m": 20.0}) as managed:
        assert managed.lifecycle.state() == "unconfigured" and managed.alive()
        assert "configure failed: depth.min_m" in managed.node.log()
        assert "ready: managed node, state unconfigured" in managed.node.log()


def test_the_plain_node_has_no_lifecycle_services(tmp_path: Path, frame: Any) -> None:
    params = {k: v for k, v in PARAMS.items() if k != "lifecycle"}
    with NodeProcess(params, log_path=tmp_path / "node.log") as node:
        node.wait_ready()
        harness = RosHarness()
        try:
            wait_until(lambda: f"{NODE}/get_parameters" in dict(harness.node.get_service_names_and_types()), 20,
                       "the plain node's parameter services")
            services = dict(harness.node.get_service_names_and_types())
            assert f"{NODE}/change_state" not in services and f"{NODE}/get_state" not in services
            harness.wait_connected()
            assert harness.pub_image.get_subscription_count() > 0  # working from the start
        finally:
            harness.close()


def test_multi_camera_node_managed(tmp_path: Path, frame: Any) -> None:
    """``cameras``: one managed node serves both; every camera's inputs follow the transitions."""
    cameras = ["front", "left"]
    with NodeProcess(dict(PARAMS, cameras=cameras), log_path=tmp_path / "node.log") as node:
        node.wait_ready()
        harnesses = {camera: RosHarness(namespace=camera) for camera in cameras}
        try:
            managed = {camera: Managed(node, harness) for camera, harness in harnesses.items()}
            lifecycle = managed["front"].lifecycle
            assert lifecycle.state() == "unconfigured"
            assert all(m.depth_publishers() == 0 for m in managed.values())
            assert lifecycle.change(CONFIGURE) and lifecycle.change(ACTIVATE)
            for camera in cameras:
                assert managed[camera].depth_for_a_frame(frame).shape == (240, 320), camera
            assert lifecycle.change(DEACTIVATE)
            wait_until(lambda: all(m.image_subscribers() == 0 for m in managed.values()), 10,
                       "every camera's inputs to be unsubscribed")
            assert lifecycle.change(CLEANUP)
            wait_until(lambda: all(m.depth_publishers() == 0 for m in managed.values()), 10,
                       "every camera's depth/image publisher to go")
            assert lifecycle.change(CONFIGURE) and lifecycle.change(ACTIVATE)
            for camera in cameras:
                managed[camera].depth_for_a_frame(frame)
            assert node.log().count("configured:") == 2
        finally:
            for harness in harnesses.values():
                harness.close()

"""Bad input to the running node: a specific warning, the frame dropped, and the next good frame processed."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from ros_harness import NodeProcess, RosHarness, StampClock, node_with_harness
from sensor_msgs.msg import Image
from waiting import repeat_until, wait_until

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, image_to_numpy, numpy_to_image
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random

pytestmark = pytest.mark.ros
K = CameraIntrinsics(518.8579, 519.46961, 325.58245, 253.73617, 640, 480)


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> dict:
    rgb = cv2.cvtColor(cv2.imread(str(shared_data / "nyu" / "rgb_00050.jpg")), cv2.COLOR_BGR2RGB)
    gt = cv2.imread(str(shared_data / "nyu" / "sync_depth_00050.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    return {"rgb": rgb, "sparse": sample_random(gt, 500, seed=1)}


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    log = tmp_path_factory.mktemp("node") / "node.log"
    with node_with_harness({"estimator": "classical", "no_sync_warn_s": 0.5, "slop_s": 0.01}, log) as pair:
        yield pair


Stamps = StampClock(10)  # this module's stamps: 10 s on


class LogMark:
    """Where the shared node's log stood when the running test began: earlier tests log the same warnings."""

    offset = 0


@pytest.fixture(autouse=True)
def mark_log(running) -> None:
    LogMark.offset = len(running[0].log())


def log_since_test_start(node: NodeProcess) -> str:
    """The node's log lines written since the current test started."""
    return node.log()[LogMark.offset:]


def harness_sparse(harness: RosHarness, frame: dict, stamp: int, sparse: np.ndarray | None = None) -> Image:
    return depth_m_to_image(frame["sparse"] if sparse is None else sparse, harness.header(stamp), "32FC1")


def publish_with_image(harness: RosHarness, frame: dict, stamp: int, image: Image) -> None:
    """Valid sparse depth and camera_info for ``stamp``, then the given (possibly malformed) image."""
    header = harness.header(stamp)
    image.header = header
    harness.pub_sparse.publish(harness_sparse(harness, frame, stamp))
    harness.pub_info.publish(intrinsics_to_camera_info(K, header))
    harness.pub_image.publish(image)


def expect_dropped_then_recovered(node: NodeProcess, harness: RosHarness, frame: dict, warning: str,
                                  bad_stamp: int) -> None:
    """The bad frame produced no output and a warning; a following good frame is processed."""
    wait_until(lambda: warning in log_since_test_start(node), 15, f"the warning {warning!r}",
               detail=lambda: f"the node's log since the test began:\n{log_since_test_start(node)[-3000:]}")
    good = Stamps.next()
    harness.publish_frame(frame["rgb"], K, frame["sparse"], good)
    rec = harness.recorders["depth/image"]
    assert rec.wait(lambda m: rec.by_stamp(good) is not None, 20), "node stopped processing after bad input"
    assert rec.by_stamp(bad_stamp) is None, "the bad frame must not produce output"
    assert node.proc.poll() is None


def test_wrong_image_encoding(running, frame) -> None:
    node, harness = running
    stamp = Stamps.next()
    publish_with_image(harness, frame, stamp,
                       Image(height=480, width=640, encoding="nv21", step=640, data=bytes(640 * 480 * 3 // 2)))
    expect_dropped_then_recovered(node, harness, frame, "unsupported image encoding 'nv21'", stamp)


def test_rgb_sparse_size_mismatch(running, frame) -> None:
    node, harness = running
    stamp = Stamps.next()
    small = np.zeros((240, 320), np.float32)
    small[100, 100] = 2.0
    harness.publish_frame(frame["rgb"], K, small, stamp)
    expect_dropped_then_recovered(node, harness, frame, "sparse depth is 320x240 but the image is 640x480", stamp)


def test_all_zero_sparse(running, frame) -> None:
    node, harness = running
    stamp = Stamps.next()
    harness.publish_frame(frame["rgb"], K, np.zeros((480, 640), np.float32), stamp, sparse_encoding="16UC1")
    expect_dropped_then_recovered(node, harness, frame,
                                  "sparse depth has no valid measurement (16UC1 [mm]: every pixel 0 or 0xFFFF)", stamp)


def test_all_nan_inf_sparse(running, frame) -> None:
    node, harness = running
    stamp = Stamps.next()
    sparse = np.full((480, 640), np.nan, np.float32)
    sparse[::7, ::7] = np.inf
    harness.pub_info.publish(intrinsics_to_camera_info(K, harness.header(stamp)))
    harness.pub_sparse.publish(numpy_to_image(sparse, "32FC1", harness.header(stamp)))
    harness.pub_image.publish(numpy_to_image(frame["rgb"], "rgb8", harness.header(stamp)))
    expect_dropped_then_recovered(node, harness, frame, "sparse depth has no valid measurement (32FC1 [m]: every "
                                                        "pixel 0, negative, NaN or inf)", stamp)


def test_some_nan_inf_sparse_values_are_ignored_not_propagated(running, frame) -> None:
    _, harness = running
    stamp = Stamps.next()
    sparse = frame["sparse"].copy()
    sparse[::5, ::5] = np.nan
    sparse[1::5, ::5] = np.inf
    sparse[2::5, ::5] = -3.0
    header = harness.header(stamp)
    harness.pub_info.publish(intrinsics_to_camera_info(K, header))
    harness.pub_sparse.publish(numpy_to_image(sparse, "32FC1", header))
    harness.pub_image.publish(numpy_to_image(frame["rgb"], "rgb8", header))
    rec = harness.recorders["depth/image"]
    assert rec.wait(lambda m: rec.by_stamp(stamp) is not None, 20)
    depth = image_to_numpy(rec.by_stamp(stamp))
    finite = depth[np.isfinite(depth)]
    assert finite.size > 0.5 * depth.size and finite.min() > 0 and np.isinf(depth).sum() == 0


def test_zero_intrinsics(running, frame) -> None:
    node, harness = running
    stamp = Stamps.next()
    info = intrinsics_to_camera_info(K)
    info.k = [0.0] * 9
    harness.publish_frame(frame["rgb"], None, frame["sparse"], stamp, info=info)
    expect_dropped_then_recovered(node, harness, frame, "camera_info has invalid intrinsics fx=0", stamp)


def test_empty_image(running, frame) -> None:
    node, harness = running
    stamp = Stamps.next()
    publish_with_image(harness, frame, stamp, Image(height=0, width=0, encoding="rgb8", step=0))
    expect_dropped_then_recovered(node, harness, frame, "empty rgb8 image", stamp)


def test_truncated_image_buffer(running, frame) -> None:
    node, harness = running
    stamp = Stamps.next()
    publish_with_image(harness, frame, stamp,
                       Image(height=480, width=640, encoding="rgb8", step=1920, data=bytes(1000)))
    expect_dropped_then_recovered(node, harness, frame, "data has 1000 bytes, expected step*height", stamp)


def test_missing_camera_info_is_explained(running, frame) -> None:
    node, harness = running
    before = node.log().count("no synchronized set")
    stamp = 0

    def images_and_sparse_without_camera_info() -> None:
        nonlocal stamp
        stamp = Stamps.next()
        harness.pub_sparse.publish(harness_sparse(harness, frame, stamp))
        harness.pub_image.publish(numpy_to_image(frame["rgb"], "rgb8", harness.header(stamp)))

    # images and sparse depth keep coming (10 Hz), camera_info never does, until the node explains it
    repeat_until(images_and_sparse_without_camera_info, lambda: node.log().count("no synchronized set") > before,
                 15, "the 'no synchronized set' warning", detail=lambda: node.log()[-2000:])
    log = node.log()
    assert "camera_info stamps lag image" in log.split("no synchronized set")[-1] or \
        "no camera_info" in log.split("no synchronized set")[-1]
    expect_dropped_then_recovered(node, harness, frame, "no synchronized set", stamp)


def test_sparse_stamp_lag_is_explained(running, frame) -> None:
    """A sparse depth stream stamped 0.25 s behind the image: the explanation names the lag, 0.25 s.

    The explanation compares the newest image with the nearest sparse depth queued when the watchdog logs it.
    With a new stamp per set, that depends on which messages of the latest set are in at that moment (0.15 or
    0.35 s were logged by a loaded machine); so the same set (image + camera_info at one stamp, sparse depth
    0.25 s before it) is sent again until the warning comes: whatever arrived last, the lag is 0.25 s. One
    older sparse depth (0.9 s before) is queued first: the nearest one is named, not the oldest.
    """
    node, harness = running
    start = len(node.log())
    for _ in range(10):  # 1 s after the earlier tests' stamps: the older sparse depth below is no jump back
        stamp = Stamps.next()
    header = harness.header(stamp)
    harness.pub_sparse.publish(harness_sparse(harness, frame, stamp - 900_000_000))
    info = intrinsics_to_camera_info(K, header)
    sparse = harness_sparse(harness, frame, stamp - 250_000_000)
    image = numpy_to_image(frame["rgb"], "rgb8", header)

    def the_same_set() -> None:
        harness.pub_info.publish(info)
        harness.pub_sparse.publish(sparse)
        harness.pub_image.publish(image)

    repeat_until(the_same_set, lambda: "no synchronized set" in node.log()[start:], 15,
                 "the 'no synchronized set' warning", detail=lambda: node.log()[-2000:])
    said = re.search(r"no synchronized set for [\d.]+ s: (.*?)(?: \(\d+ similar suppressed\))?$", node.log()[start:],
                     re.MULTILINE)
    assert said is not None and said.group(1) == "sparse_depth stamps lag image by 0.25 s > slop 0.01 s", \
        node.log()[start:][-2000:]

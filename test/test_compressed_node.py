"""image_transport / sparse_transport over real rclpy topics.

Two node processes share remapped inputs (``image:=/cam/image_raw`` ...): one reads the raw topics, the other
``/cam/image_raw/compressed`` (JPEG/PNG) and ``/cam/sparse/compressedDepth`` (PNG-16 / RVL). Both get every
frame in both forms; their depth must agree, and each must ignore the other transport.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from ros_harness import NodeProcess, Recorder, RosHarness, spin_in_background, stop_spinning, wait_until
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from lingbot_depth_ros.messages.compressed import decode_compressed_image
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.compressed_codec import compressed_depth_msg, compressed_image_msg
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, depth_m_to_image, numpy_to_image
from lingbot_depth_ros.synthetic.generator import SceneGenerator

pytestmark = pytest.mark.ros
# Unique names: other test processes on this machine share the ROS graph.
CAM, RAW_NS, COMPRESSED_NS = f"/cam{os.getpid()}", f"/raw{os.getpid()}", f"/compressed{os.getpid()}"
REMAPS = ["-r", f"image:={CAM}/image_raw", "-r", f"camera_info:={CAM}/camera_info", "-r", f"sparse_depth:={CAM}/sparse"]
INPUTS = {"/cam/image_raw": Image, "/cam/image_raw/compressed": CompressedImage, "/cam/camera_info": CameraInfo,
          "/cam/sparse": Image, "/cam/sparse/compressedDepth": CompressedImage}
OUTPUTS = ("/raw/depth/image", "/compressed/depth/image")


def real(name: str) -> str:
    """The graph name of a short name used in these tests (/cam..., /raw..., /compressed...)."""
    for short, unique in (("/cam/", CAM + "/"), ("/raw/", RAW_NS + "/"), ("/compressed/", COMPRESSED_NS + "/")):
        if name.startswith(short):
            return unique + name[len(short):]
    return name


class Feed:
    """Publishes every input topic, records both nodes' depth outputs."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(f"compressed_feed_{os.getpid()}", context=self.context)
        self.pubs = {t: self.node.create_publisher(m, real(t), qos_profile_sensor_data) for t, m in INPUTS.items()}
        self.recorders = {t: Recorder() for t in OUTPUTS}
        self._subs = [self.node.create_subscription(Image, real(t), self.recorders[t], qos_profile_sensor_data)
                      for t in OUTPUTS]
        self.executor, self._thread = spin_in_background(self.context, self.node)

    def subscribers(self, topic: str) -> list[str]:
        return sorted(i.node_namespace for i in self.node.get_subscriptions_info_by_topic(real(topic)))

    def publish(self, stamp: int, messages: dict[str, Any]) -> None:
        header = RosHarness.header(stamp)
        for topic, msg in messages.items():
            msg.header = header
            self.pubs[topic].publish(msg)

    def depth(self, topic: str, stamp: int, timeout: float = 30.0) -> np.ndarray | None:
        rec = self.recorders[topic]
        if not rec.wait(lambda msgs: rec.by_stamp(stamp) is not None, timeout):
            return None
        return depth_m_from_image(rec.by_stamp(stamp))

    def close(self) -> None:
        stop_spinning(self.executor, self._thread, self.context, self.node)


@pytest.fixture(scope="module")
def scene() -> Any:
    return SceneGenerator(width=320, height=240, seed=5).frame(0)


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[tuple[NodeProcess, NodeProcess, Feed]]:
    logs = tmp_path_factory.mktemp("compressed")
    params = {"estimator": "classical", "mode": "completion", "obstacles.enabled": False, "cloud.enabled": False,
              "slop_s": 0.01}
    with NodeProcess({**params, "image_transport": "compressed", "sparse_transport": "compressedDepth"},
                     log_path=logs / "compressed.log", namespace=COMPRESSED_NS, extra_args=REMAPS) as compressed, \
            NodeProcess(params, log_path=logs / "raw.log", namespace=RAW_NS, extra_args=REMAPS) as raw:
        compressed.wait_ready()
        raw.wait_ready()
        feed = Feed()
        try:
            counts = {"/cam/image_raw": 1, "/cam/image_raw/compressed": 1, "/cam/camera_info": 2, "/cam/sparse": 1,
                      "/cam/sparse/compressedDepth": 1}
            assert wait_until(lambda: all(feed.pubs[t].get_subscription_count() == n for t, n in counts.items())
                              and all(feed.node.count_publishers(real(t)) > 0 for t in OUTPUTS), 30), \
                {t: feed.pubs[t].get_subscription_count() for t in counts}
            yield compressed, raw, feed
        finally:
            feed.close()


def both_forms(scene: Any, image_codec: str = "jpeg", depth_codec: str = "png") -> dict[str, Any]:
    """The frame as raw Image / 16UC1 and as CompressedImage / compressedDepth (headers set on publish)."""
    return {"/cam/camera_info": intrinsics_to_camera_info(scene.intrinsics),
            "/cam/image_raw": numpy_to_image(scene.rgb, "rgb8"),
            "/cam/image_raw/compressed": compressed_image_msg(scene.rgb, codec=image_codec, quality=90),
            "/cam/sparse": depth_m_to_image(scene.sparse_depth_m, encoding="16UC1"),
            "/cam/sparse/compressedDepth": compressed_depth_msg(scene.sparse_depth_m, codec=depth_codec)}


def test_transport_topics_follow_the_remapped_base_name(system) -> None:
    _, _, feed = system
    expected = {"/cam/image_raw": [RAW_NS], "/cam/image_raw/compressed": [COMPRESSED_NS], "/cam/sparse": [RAW_NS],
                "/cam/sparse/compressedDepth": [COMPRESSED_NS], "/cam/camera_info": sorted([COMPRESSED_NS, RAW_NS])}
    # node names reach the graph a little after the endpoints ("_NODE_NAMESPACE_UNKNOWN_" until then)
    assert wait_until(lambda: all(feed.subscribers(t) == ns for t, ns in expected.items()), 15), \
        {t: feed.subscribers(t) for t in expected}


@pytest.mark.parametrize("image_codec,depth_codec,stamp", [("jpeg", "png", 10_000_000_000),
                                                           ("png", "rvl", 11_000_000_000)])
def test_compressed_stream_gives_the_raw_streams_depth(system, scene, image_codec: str, depth_codec: str,
                                                       stamp: int) -> None:
    _, _, feed = system
    messages = both_forms(scene, image_codec, depth_codec)
    feed.publish(stamp, messages)
    from_raw = feed.depth("/raw/depth/image", stamp)
    from_compressed = feed.depth("/compressed/depth/image", stamp)
    assert from_raw is not None and from_compressed is not None
    # the image differs by JPEG noise only; the classical estimator reads the (lossless) depth alone
    decoded = decode_compressed_image(messages["/cam/image_raw/compressed"].format,
                                      bytes(messages["/cam/image_raw/compressed"].data))
    image_error = np.abs(decoded.astype(int) - scene.rgb).mean()
    assert image_error < (4.0 if image_codec == "jpeg" else 1e-9)
    np.testing.assert_array_equal(np.isnan(from_compressed), np.isnan(from_raw))
    assert np.isfinite(from_raw).mean() > 0.5
    assert float(np.nanmax(np.abs(from_compressed - from_raw))) == 0.0


def test_each_node_ignores_the_other_transport(system, scene) -> None:
    _, _, feed = system
    messages = both_forms(scene)
    compressed_only, raw_only = 12_000_000_000, 13_000_000_000
    feed.publish(compressed_only, {t: messages[t] for t in ("/cam/camera_info", "/cam/image_raw/compressed",
                                                              "/cam/sparse/compressedDepth")})
    feed.publish(raw_only, {t: messages[t] for t in ("/cam/camera_info", "/cam/image_raw", "/cam/sparse")})
    assert feed.depth("/compressed/depth/image", compressed_only) is not None
    assert feed.depth("/raw/depth/image", raw_only) is not None
    # a set on both transports after those: each node publishes in order, so once both answered it, a crossed
    # output (a node taking the other transport's set) would have come out before it
    fence = raw_only + 500_000_000
    feed.publish(fence, both_forms(scene))
    assert feed.depth("/raw/depth/image", fence) is not None
    assert feed.depth("/compressed/depth/image", fence) is not None
    assert feed.recorders["/raw/depth/image"].by_stamp(compressed_only) is None
    assert feed.recorders["/compressed/depth/image"].by_stamp(raw_only) is None


@pytest.mark.parametrize("bad,topic,payload,warning", [
    (20_000_000_000, "/cam/image_raw/compressed", ("rgb8; jpeg compressed bgr8", b"\xff\xd8\xff\xe0" + bytes(200)),
     "CompressedImage (jpeg, 204 bytes): 204 bytes are not a PNG or JPEG file"),
    (21_000_000_000, "/cam/image_raw/compressed", ("h264", b"\x00\x00\x00\x01"),
     "unsupported CompressedImage format 'h264'"),
    (22_000_000_000, "/cam/sparse/compressedDepth", ("16UC1; compressedDepth zstd", bytes(40)),
     "unsupported compressedDepth codec 'zstd'"),
    (23_000_000_000, "/cam/sparse/compressedDepth",
     ("16UC1; compressedDepth rvl", bytes(12) + b"\x10\x00\x00\x00\x10\x00\x00\x00"), "RVL stream"),
])
def test_bad_payloads_warn_and_drop_then_recover(system, scene, bad: int, topic: str, payload: tuple[str, bytes],
                                                 warning: str) -> None:
    compressed, _, feed = system
    messages = both_forms(scene)
    broken = CompressedImage(format=payload[0], data=payload[1])
    feed.publish(bad, {"/cam/camera_info": messages["/cam/camera_info"],
                       "/cam/image_raw/compressed": messages["/cam/image_raw/compressed"],
                       "/cam/sparse/compressedDepth": messages["/cam/sparse/compressedDepth"], topic: broken})
    assert wait_until(lambda: warning in compressed.log(), 20), compressed.log()[-2000:]
    assert "dropped frame (bad_input)" in compressed.log()
    good = bad + 500_000_000
    feed.publish(good, both_forms(scene))
    assert feed.depth("/compressed/depth/image", good) is not None, "node stopped after a bad payload"
    assert feed.recorders["/compressed/depth/image"].by_stamp(bad) is None
    assert compressed.proc.poll() is None

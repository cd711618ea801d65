"""A camera + LiDAR driver for the doctor's tests and README examples: real rclpy publishers on real topics, with
one fault at a time (:class:`Faults`), publishing at ``rate_hz`` from a ROS timer in its own context.

In a process of its own (``python test/doctor_graph.py --help``) it is a driver with its own environment, e.g. on
Fast DDS defaults (``test/doctor_examples.py``).

The frame is the demo's procedural scene (one render, re-stamped with the current time at every tick), so the
depth node started beside it produces depth exactly as in ``make demo``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image
from lingbot_depth_ros.synthetic.generator import SceneGenerator

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


@dataclass(frozen=True)
class Faults:
    """What the driver does wrong (the defaults: nothing).

    ``reliable``: publish with reliable QoS instead of sensor data; ``encoding``: the image's encoding (an
    unknown name gets the rgb8 bytes); ``info_size``: (width, height) [px] CameraInfo claims; ``sparse_offset_s``:
    added to the sparse depth's stamps [s]; ``sparse_scale``: multiplies the sparse depth values (1000 with 32FC1:
    millimetres in a metre encoding); ``stamp_age_s``: stamps this much older than now [s] (late arrival);
    ``image``: publish the image at all; ``image_every``: publish every n-th image only (CameraInfo every tick:
    lost images); ``cloud``: publish the LiDAR as a PointCloud2 on lidar_points instead of sparse_depth;
    ``sparse_frame_id``: the sparse depth's frame_id ('' = the camera's; a cloud is always in 'lidar').
    """

    reliable: bool = False
    encoding: str = "rgb8"
    info_size: tuple[int, int] | None = None
    sparse_offset_s: float = 0.0
    sparse_scale: float = 1.0
    stamp_age_s: float = 0.0
    image: bool = True
    image_every: int = 1
    cloud: bool = False
    sparse_frame_id: str = ""


@dataclass
class FakeDriver:
    """The publishers of one camera in ``namespace`` (relative names image, camera_info, sparse_depth,
    lidar_points), ``width`` x ``height`` [px] at ``rate_hz`` [Hz]."""

    namespace: str = ""
    faults: Faults = field(default_factory=Faults)
    width: int = 160
    height: int = 120
    rate_hz: float = 10.0
    frame_id: str = "camera_color_optical_frame"
    ticks: int = 0

    def __post_init__(self) -> None:
        frame = SceneGenerator(self.width, self.height, seed=0).frame(0)
        self.rgb, self.sparse_m, self.intrinsics = frame.rgb, frame.sparse_depth_m, frame.intrinsics
        valid = self.sparse_m > 0
        v, u = np.nonzero(valid)
        z = self.sparse_m[valid]
        k = self.intrinsics
        self.points = np.stack([(u - k.cx) * z / k.fx, (v - k.cy) * z / k.fy, z], axis=1).astype(np.float32)

    def start(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(f"fake_driver_{os.getpid()}", namespace=self.namespace or None, context=self.context)
        qos = RELIABLE if self.faults.reliable else qos_profile_sensor_data
        self.pub_image = self.node.create_publisher(Image, "image", qos) if self.faults.image else None
        self.pub_info = self.node.create_publisher(CameraInfo, "camera_info", qos)
        if self.faults.cloud:
            self.pub_cloud = self.node.create_publisher(PointCloud2, "lidar_points", qos)
        else:
            self.pub_sparse = self.node.create_publisher(Image, "sparse_depth", qos)
        self.node.create_timer(1.0 / self.rate_hz, self.tick)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # shutdown ends the spin
            self.executor.spin()

    def _header(self, stamp_ns: int, frame_id: str | None = None) -> Header:
        header = Header()
        header.stamp.sec, header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
        header.frame_id = self.frame_id if frame_id is None else frame_id
        return header

    def tick(self) -> None:
        """One frame: camera_info, sparse depth (or cloud), image, all stamped now (minus the fault's age)."""
        faults = self.faults
        stamp = self.node.get_clock().now().nanoseconds - int(faults.stamp_age_s * 1e9)
        header = self._header(stamp)
        info = intrinsics_to_camera_info(self.intrinsics, header)
        if faults.info_size is not None:
            info.width, info.height = faults.info_size
        self.pub_info.publish(info)
        sparse_header = self._header(stamp + int(faults.sparse_offset_s * 1e9), faults.sparse_frame_id or None)
        if faults.cloud:
            sparse_header.frame_id = "lidar"
            self.pub_cloud.publish(xyz_to_pointcloud2(self.points * faults.sparse_scale, sparse_header))
        else:
            self.pub_sparse.publish(depth_m_to_image(self.sparse_m * faults.sparse_scale, sparse_header, "32FC1"))
        if self.pub_image is not None and self.ticks % faults.image_every == 0:
            known = faults.encoding in ("rgb8", "bgr8")
            pixels = self.rgb[..., ::-1].copy() if faults.encoding == "bgr8" else self.rgb
            msg = numpy_to_image(pixels, "rgb8", header)
            if not known:
                msg.encoding = faults.encoding
            self.pub_image.publish(msg)
        self.ticks += 1

    def stop(self) -> None:
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(timeout=5)


@contextlib.contextmanager
def fake_driver(**kwargs: object) -> Iterator[FakeDriver]:
    """A started :class:`FakeDriver` (keyword arguments: its fields), stopped at the end of the block."""
    driver = FakeDriver(**kwargs)  # type: ignore[arg-type]
    driver.start()
    try:
        yield driver
    finally:
        driver.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Publish until SIGINT / SIGTERM: ``--namespace``, ``--width``, ``--height``, ``--rate-hz`` and ``--faults``
    (JSON of :class:`Faults` fields, e.g. ``{"image_every": 3}``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--faults", type=json.loads, default={})
    args = parser.parse_args(argv)
    faults = Faults(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.faults.items()})
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # before the spin thread starts: it inherits the mask
    with fake_driver(namespace=args.namespace, width=args.width, height=args.height, rate_hz=args.rate_hz,
                     faults=faults):
        print("publishing", flush=True)
        signal.sigwait(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

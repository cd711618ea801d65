"""rosbag2 round trips with rosbags: .mcap and .db3, both sparse encodings, exact pixels and cameras."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.bags.files import BagFrame, BagWriter, bag_topics, read_frames, read_raw, write_bag
from lingbot_depth_ros.bags.messages import CAMERA_INFO_TYPE, IMAGE_TYPE, TYPESTORE, camera_info_message, image_message
from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator


def scene_frames(n: int = 3, width: int = 96, height: int = 72) -> list[BagFrame]:
    lidar = LidarConfig.preset(16, horizontal_resolution_deg=1.0)
    gen = SceneGenerator(width=width, height=height, seed=4, lidar=lidar)
    return [BagFrame(stamp_ns=f.stamp_ns, rgb=f.rgb, intrinsics=f.intrinsics, sparse_depth_m=f.sparse_depth_m,
                     depth_gt_m=f.depth_gt_m, lidar_points=f.lidar_points_lidar, camera_from_lidar=f.camera_from_lidar)
            for f in gen.frames(n)]


@pytest.mark.parametrize("storage", ["mcap", "db3"])
@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_round_trip_is_exact(tmp_path: Path, storage: str, encoding: str) -> None:
    frames = scene_frames()
    summary = write_bag(tmp_path / "bag", frames, storage=storage, sparse_encoding=encoding)
    assert summary.n_frames == 3
    suffix = ".mcap" if storage == "mcap" else ".db3"
    assert (tmp_path / "bag" / f"bag{suffix}").is_file() and (tmp_path / "bag" / "metadata.yaml").is_file()

    topics = bag_topics(tmp_path / "bag")
    assert topics["/camera/image"] == ("sensor_msgs/msg/Image", 3)
    assert topics["/camera/camera_info"] == ("sensor_msgs/msg/CameraInfo", 3)
    assert topics["/camera/sparse_depth"] == ("sensor_msgs/msg/Image", 3)
    assert topics["/camera/depth_gt"] == ("sensor_msgs/msg/Image", 3)
    assert topics["/camera/lidar_points"] == ("sensor_msgs/msg/PointCloud2", 3)
    assert topics["/tf_static"] == ("tf2_msgs/msg/TFMessage", 1)

    back = list(read_frames(tmp_path / "bag"))
    assert len(back) == 3
    for original, read in zip(frames, back):
        assert read.stamp_ns == original.stamp_ns
        np.testing.assert_array_equal(read.rgb, original.rgb)
        assert read.intrinsics == original.intrinsics
        np.testing.assert_array_equal(read.depth_gt_m, original.depth_gt_m)
        if encoding == "32FC1":
            np.testing.assert_array_equal(read.sparse_depth_m, original.sparse_depth_m)
        else:  # millimetres: exact after rounding to the mm
            expected = np.rint(original.sparse_depth_m * 1000.0) / 1000.0
            np.testing.assert_allclose(read.sparse_depth_m, expected, atol=1e-6)
            assert np.array_equal(read.sparse_depth_m > 0, original.sparse_depth_m > 0)
        np.testing.assert_array_equal(read.lidar_points, original.lidar_points)
        np.testing.assert_allclose(read.camera_from_lidar, original.camera_from_lidar, atol=1e-12)
        assert read.camera_frame_id == "camera_optical_frame" and read.lidar_frame_id == "lidar"


def test_messages_are_standard_ros2_messages(tmp_path: Path) -> None:
    frames = scene_frames(n=2)
    write_bag(tmp_path / "bag", frames, storage="mcap", sparse_encoding="16UC1")
    raw = {m.topic: m for m in read_raw(tmp_path / "bag")}
    image = TYPESTORE.deserialize_cdr(raw["/camera/image"].data, raw["/camera/image"].msgtype)
    assert (image.encoding, image.width, image.height, image.step) == ("rgb8", 96, 72, 96 * 3)
    assert image.header.frame_id == "camera_optical_frame"
    info = TYPESTORE.deserialize_cdr(raw["/camera/camera_info"].data, "sensor_msgs/msg/CameraInfo")
    k = frames[0].intrinsics
    np.testing.assert_allclose(info.k, [k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1])
    np.testing.assert_allclose(info.p, [k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1, 0])
    sparse = TYPESTORE.deserialize_cdr(raw["/camera/sparse_depth"].data, "sensor_msgs/msg/Image")
    assert sparse.encoding == "16UC1"
    gt = TYPESTORE.deserialize_cdr(raw["/camera/depth_gt"].data, "sensor_msgs/msg/Image")
    assert gt.encoding == "32FC1"
    cloud = TYPESTORE.deserialize_cdr(raw["/camera/lidar_points"].data, "sensor_msgs/msg/PointCloud2")
    assert [f.name for f in cloud.fields] == ["x", "y", "z"] and cloud.point_step == 12
    assert cloud.header.frame_id == "lidar"
    # log time = header stamp, so a replay at the recorded rate keeps the capture timing
    assert raw["/camera/image"].log_time_ns == frames[1].stamp_ns


def test_invalid_depth_is_zero_in_numpy_and_nan_in_32fc1(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    gt = np.array([[1.0, 0.0, np.nan, 2.0, 3.0]] * 4, np.float32)
    k = CameraIntrinsics(fx=5.0, fy=5.0, cx=2.0, cy=1.5, width=5, height=4)
    write_bag(tmp_path / "bag", [BagFrame(stamp_ns=10, rgb=rgb, intrinsics=k, sparse_depth_m=gt, depth_gt_m=gt)],
              sparse_encoding="32FC1")
    raw = next(m for m in read_raw(tmp_path / "bag", ["/camera/depth_gt"]))
    msg = TYPESTORE.deserialize_cdr(raw.data, raw.msgtype)
    stored = np.frombuffer(bytes(msg.data), "<f4").reshape(4, 5)
    assert np.isnan(stored[:, 1:3]).all()
    (frame,) = read_frames(tmp_path / "bag")
    np.testing.assert_array_equal(frame.depth_gt_m[0], [1.0, 0.0, 0.0, 2.0, 3.0])


def test_writer_refuses_bad_input_and_leaves_no_partial_bag(tmp_path: Path) -> None:
    frames = scene_frames(n=2)
    write_bag(tmp_path / "bag", frames)
    with pytest.raises(InputError, match="exists already"):
        write_bag(tmp_path / "bag", frames)
    with pytest.raises(InputError, match="stamps must increase"):
        write_bag(tmp_path / "again", [frames[1], frames[0]])
    assert not (tmp_path / "again").exists()
    wrong = BagFrame(stamp_ns=1, rgb=frames[0].rgb, intrinsics=frames[0].intrinsics.scaled(48, 36))
    with pytest.raises(InputError, match="intrinsics are for 48x36"):
        write_bag(tmp_path / "wrong", [wrong])
    far = BagFrame(stamp_ns=1, rgb=frames[0].rgb, intrinsics=frames[0].intrinsics,
                   sparse_depth_m=np.full(frames[0].rgb.shape[:2], 80.0, np.float32))
    with pytest.raises(InputError, match="does not fit 16UC1"):
        write_bag(tmp_path / "far", [far], sparse_encoding="16UC1")
    with pytest.raises(InputError, match="unknown bag storage"):
        write_bag(tmp_path / "x", frames, storage="bag1")
    with pytest.raises(InputError, match="not a rosbag2 directory"):
        list(read_frames(tmp_path))


def test_custom_topic_names(tmp_path: Path) -> None:
    topics = StreamTopics(image="/cam/rgb", camera_info="/cam/info", sparse_depth="/cam/lidar_depth",
                          depth_gt="/cam/gt")
    with BagWriter(tmp_path / "bag", storage="db3", topics=topics) as writer:
        for frame in scene_frames(n=2):
            writer.write(frame)
    assert {"/cam/rgb", "/cam/info", "/cam/lidar_depth", "/cam/gt"} <= set(bag_topics(tmp_path / "bag"))
    assert len(list(read_frames(tmp_path / "bag", topics))) == 2


def test_recorded_bags_with_log_times_after_the_stamps(tmp_path: Path) -> None:
    """A driver's messages are logged some ms after their stamp, the image before its camera_info."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    frames = scene_frames(n=3)
    with Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        image_conn = writer.add_connection("/camera/image", IMAGE_TYPE, typestore=TYPESTORE)
        info_conn = writer.add_connection("/camera/camera_info", CAMERA_INFO_TYPE, typestore=TYPESTORE)
        for frame in frames:
            stamp = frame.stamp_ns
            writer.write(image_conn, stamp + 30_000_000, TYPESTORE.serialize_cdr(
                image_message(frame.rgb, "rgb8", stamp, "cam"), IMAGE_TYPE))
            writer.write(info_conn, stamp + 45_000_000, TYPESTORE.serialize_cdr(
                camera_info_message(frame.intrinsics, stamp, "cam"), CAMERA_INFO_TYPE))
    back = list(read_frames(tmp_path / "bag"))
    assert [f.stamp_ns for f in back] == [f.stamp_ns for f in frames]
    assert all(f.sparse_depth_m is None and f.depth_gt_m is None and f.camera_frame_id == "cam" for f in back)
    np.testing.assert_array_equal(back[2].rgb, frames[2].rgb)


@pytest.mark.parametrize("encoding", ["bgr8", "mono16", "yuv422", "yuyv", "bayer_rggb8", "bayer_gbrg8", "rgb16"])
def test_bags_of_any_camera_encoding_are_read_as_the_node_reads_them(tmp_path: Path, encoding: str) -> None:
    """read_frames (lingbot-depth-eval, fuse) decodes every encoding the node does, with the node's decoder."""
    from rosbags.rosbag2 import Writer

    from lingbot_depth_ros.messages.encoding_table import ENCODINGS
    from lingbot_depth_ros.ros.image_codec import numpy_to_image, rgb_from_image

    frame = scene_frames(n=1)[0]
    pixels = ENCODINGS[encoding].from_rgb(frame.rgb)
    with Writer(tmp_path / "bag", version=9) as writer:
        image_conn = writer.add_connection("/camera/image", IMAGE_TYPE, typestore=TYPESTORE)
        info_conn = writer.add_connection("/camera/camera_info", CAMERA_INFO_TYPE, typestore=TYPESTORE)
        writer.write(info_conn, frame.stamp_ns, TYPESTORE.serialize_cdr(
            camera_info_message(frame.intrinsics, frame.stamp_ns, "cam"), CAMERA_INFO_TYPE))
        writer.write(image_conn, frame.stamp_ns, TYPESTORE.serialize_cdr(
            image_message(pixels, encoding, frame.stamp_ns, "cam"), IMAGE_TYPE))
    (read,) = read_frames(tmp_path / "bag")
    assert read.intrinsics == frame.intrinsics
    assert np.array_equal(read.rgb, rgb_from_image(numpy_to_image(pixels, encoding)))  # what the node decodes
    grey = np.repeat(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    expected = grey if ENCODINGS[encoding].monochrome else frame.rgb
    assert np.abs(read.rgb.astype(int) - expected).mean() < 8  # the picture, up to 4:2:2 / demosaicing losses


def test_image_builder_checks_the_pixels_against_the_encoding_table() -> None:
    from lingbot_depth_ros.errors import EncodingError
    from lingbot_depth_ros.messages.image import image_pixels

    big = (np.arange(12, dtype=">u2").reshape(3, 4) * 300)
    msg = image_message(big, "16UC1", 1, "cam")  # any byte order in, little endian out
    assert msg.is_bigendian == 0 and msg.step == 8 and np.array_equal(image_pixels(msg), big)
    for pixels, encoding, match in ((np.zeros((2, 4), np.uint8), "rgb8", "does not fit encoding rgb8"),
                                    (np.zeros((2, 4, 3), np.uint8), "uyvy", "does not fit encoding uyvy"),
                                    (np.zeros((2, 4), np.float64), "32FC1", "does not fit encoding 32FC1"),
                                    (np.zeros((2, 4), np.uint8), "nv21", "unsupported image encoding 'nv21'")):
        with pytest.raises(EncodingError, match=match):
            image_message(pixels, encoding, 1, "cam")

"""depth_fusion_node end to end over real rclpy topics: a test node publishes depth/image, depth/camera_info,
colour and poses (PoseStamped at half-frame offsets, so every image stamp needs interpolation, or Odometry of
the base + the mounting parameters) of the procedural scene; the fused/points cloud must lie on the true
surfaces, ~/save_mesh must write the PLYs, and diagnostics must carry the memory bound."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray
from waiting import wait_until

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.fusion.ground_truth import distance_to_layout
from lingbot_depth_ros.fusion.poses import mounting_matrix, pose_to_translation_quaternion
from lingbot_depth_ros.io.ply import read_ply
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_fields, pointcloud2_to_xyz
from lingbot_depth_ros.ros.fusion_node import DepthFusionNode
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image
from lingbot_depth_ros.surfaces import schema_errors
from lingbot_depth_ros.synthetic import SceneGenerator

VOXEL = 0.05
N_FRAMES = 8


def _header(stamp_ns: int, frame_id: str) -> Header:
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return h


def _fill_pose(target, pose: np.ndarray) -> None:
    t, q = pose_to_translation_quaternion(pose)
    target.position.x, target.position.y, target.position.z = (float(v) for v in t)
    target.orientation.x, target.orientation.y, target.orientation.z, target.orientation.w = (float(v) for v in q)


def run_fusion(tmp_path: Path, source: str, **params: object) -> dict:
    """Spin the fusion node in this process, publish the scene into it, return what came out."""
    gen = SceneGenerator(width=160, height=120, seed=3, rgb_noise=0.0)
    context = rclpy.Context()
    rclpy.init(context=context)
    ns = f"/fcam{abs(hash((source, time.time_ns()))) % 100000}"
    overrides = [Parameter("cameras", value=[ns]), Parameter("fusion.pose_source", value=source),
                 Parameter("fusion.voxel_size_m", value=VOXEL), Parameter("fusion.integration_rate_hz", value=0.0),
                 Parameter("fusion.publish_rate_hz", value=5.0), Parameter("fusion.weight_threshold", value=1.0),
                 Parameter("fusion.max_depth_m", value=5.0), Parameter("fusion.output_dir", value=str(tmp_path)),
                 Parameter("fusion.odom_topic", value=ns + "/odom")]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    node = DepthFusionNode(context=context, parameter_overrides=overrides)
    test = rclpy.create_node("fusion_test_feeder", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(test)
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)],
                              daemon=True)
    thread.start()
    clouds: list[PointCloud2] = []
    diags: list[DiagnosticArray] = []
    test.create_subscription(PointCloud2, "/fused/points", clouds.append, 1)
    test.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    surfaces: list[String] = []
    markers: list[MarkerArray] = []
    test.create_subscription(String, "/fused/surfaces", surfaces.append, 10)
    test.create_subscription(MarkerArray, "/fused/surfaces/markers", markers.append, 10)
    pubs = {name: test.create_publisher(kind, f"{ns}/{name}", qos)
            for name, kind, qos in (("depth/image", Image, qos_profile_sensor_data),
                                    ("depth/camera_info", CameraInfo, qos_profile_sensor_data),
                                    ("image", Image, qos_profile_sensor_data), ("pose", PoseStamped, 50),
                                    ("odom", Odometry, 50))}
    mount = mounting_matrix((params.get("fusion.mount_x", 0.0), 0.0, params.get("fusion.mount_z", 0.0)),
                            (0.0, params.get("fusion.mount_pitch", 0.0), 0.0))
    cam = node.cameras[0]
    poses = {"pose": lambda: cam.poses, "odometry": lambda: node.odometry}.get(source)
    inputs = ["depth/image", "depth/camera_info", "image"] + {"pose": ["pose"], "odometry": ["odom"]}.get(source, [])

    def handled() -> int:
        """Depth frames the node has taken: fused, or dropped with a counted reason."""
        return node.fusion.stats.frames_integrated + sum(node.drops.values())

    try:
        wait_until(lambda: all(pubs[name].get_subscription_count() > 0 for name in inputs) and
                   node.points_pub.get_subscription_count() > 0, 10, "the fusion node and the feeder to connect")
        for i in range(N_FRAMES):
            frame = gen.frame(i)
            # Poses half a frame before and after the image: the node has to interpolate to the stamp.
            for offset in (-0.5, 0.5):
                stamp = gen.stamp_ns(0) + int(round((i + offset) * 1e9 / gen.rate_hz))
                cam_pose = gen.pose_at(i + offset)  # type: ignore[arg-type]
                if source == "pose":
                    msg = PoseStamped(header=_header(stamp, "map"))
                    _fill_pose(msg.pose, cam_pose)
                    pubs["pose"].publish(msg)
                else:
                    odom = Odometry(header=_header(stamp, "map"), child_frame_id="base_link")
                    _fill_pose(odom.pose.pose, cam_pose @ np.linalg.inv(mount))
                    pubs["odom"].publish(odom)
            if poses is not None:  # both poses around the image stamp are in before its depth (other topic)
                wait_until(lambda i=i: len(poses()) >= i + 2, 10, f"the poses around frame {i}")
            header = _header(frame.stamp_ns, "camera_optical_frame")
            pubs["depth/camera_info"].publish(intrinsics_to_camera_info(frame.intrinsics, header))
            pubs["image"].publish(numpy_to_image(frame.rgb, "rgb8", header))
            wait_until(lambda stamp=frame.stamp_ns: cam.info is not None and stamp in cam.colour, 10,
                       f"the camera_info and colour image of frame {i}")
            before = handled()
            pubs["depth/image"].publish(depth_m_to_image(frame.depth_gt_m, header))
            wait_until(lambda before=before: handled() > before, 15, f"depth frame {i} to be fused or dropped",
                       detail=lambda: f"drops {dict(node.drops)}")
        fused = node.fusion.stats.frames_integrated
        clouds.clear()
        surfaces.clear()
        if params.get("fusion.surfaces.enabled"):  # a report of the whole map (analysed after the last frame)
            wait_until(lambda: surfaces, 20, "a fused/surfaces report after the last frame")
        wait_until(lambda: clouds, 10, "a fused/points cloud after the last frame")
        client = test.create_client(Trigger, "/depth_fusion_node/save_mesh")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(Trigger.Request())
        wait_until(future.done, 20, "the answer of ~/save_mesh")
        reports = len(diags)
        node.diagnostics.force_update()
        wait_until(lambda: len(diags) > reports, 10, "the diagnostics forced after the last frame")
        return {"fused": fused, "clouds": list(clouds), "response": future.result(), "diags": list(diags),
                "layout": gen.layout, "node_frame": node.map_frame, "surfaces": list(surfaces),
                "markers": list(markers), "first_pose": gen.pose_at(0),
                "camera_centres": np.array([gen.pose_at(i)[:3, 3] for i in range(N_FRAMES)])}
    finally:
        stop.set()
        thread.join(timeout=5)
        executor.shutdown()
        node.destroy_node()
        test.destroy_node()
        rclpy.shutdown(context=context)


def _check_on_surfaces(xyz: np.ndarray, layout) -> float:
    dist = distance_to_layout(xyz, layout.room_min, layout.room_max, np.array([b.lo for b in layout.boxes]),
                              np.array([b.hi for b in layout.boxes]))
    return float(np.percentile(dist, 95))


def _floor(out: dict, frame_id: str) -> dict:
    """The fused/surfaces report must be valid, in ``frame_id``, with a floor at z = 0 (the scene's) of > 1 m^2."""
    assert out["surfaces"], "no fused/surfaces report"
    report = json.loads(out["surfaces"][-1].data)
    assert schema_errors(report) == [] and report["frame_id"] == frame_id
    floors = [s for s in report["surfaces"] if s["kind"] == "floor"]
    assert floors, report["surfaces"]
    floor = max(floors, key=lambda s: s["area_m2"])
    assert floor["area_m2"] > 1.0 and floor["tilt_deg"] < 3.0 and abs(floor["centroid"][2]) < 0.05, floor
    assert out["markers"] and any(m.header.frame_id == frame_id and m.ns == "surface_outline"
                                  for a in out["markers"] for m in a.markers)
    return report


def test_fusion_node_pose_topic_end_to_end(tmp_path: Path) -> None:
    out = run_fusion(tmp_path, "pose", **{"fusion.surfaces.enabled": True, "fusion.surfaces.rate_hz": 2.0})
    report = _floor(out, "map")  # the map is z up: gravity from the poses
    for s in report["surfaces"]:  # every normal towards the cameras that saw it (the ceiling's down, walls inwards)
        assert ((out["camera_centres"] - s["centroid"]) @ np.array(s["normal"]) > 0).all(), s
    assert out["fused"] >= N_FRAMES - 1, out["fused"]
    assert out["clouds"], "no fused/points published"
    cloud = out["clouds"][-1]
    assert cloud.header.frame_id == "map"
    xyz = pointcloud2_to_xyz(cloud)
    assert len(xyz) > 2000
    assert _check_on_surfaces(xyz, out["layout"]) <= 2 * VOXEL
    rgb = pointcloud2_fields(cloud, ("rgb",))
    assert rgb.size == len(xyz)
    response = out["response"]
    assert response.success, response.message
    mesh_text = (tmp_path / "mesh.ply").read_bytes()[:300]
    assert b"element face" in mesh_text
    cloud_xyz, cloud_rgb = read_ply(tmp_path / "fused.ply")
    assert len(cloud_xyz) >= len(xyz) and cloud_rgb is not None
    statuses = [s for a in out["diags"] for s in a.status if "fusion" in s.name]
    assert statuses, "no fusion diagnostics"
    values = {kv.key: kv.value for kv in statuses[-1].values}
    assert values["max_blocks"] == "40000" and int(values["blocks"]) > 0 and "memory_bound_mb" in values


def test_fusion_node_odometry_with_mounting(tmp_path: Path) -> None:
    # The base pose is the camera pose with the mounting (0.2 m forward, 1 m up, pitched 0.1 rad) removed:
    # the node must chain it back on from its parameters.
    out = run_fusion(tmp_path, "odometry", **{"fusion.mount_x": 0.2, "fusion.mount_z": 1.0,
                                              "fusion.mount_pitch": 0.1})
    assert out["fused"] >= N_FRAMES - 1
    xyz = pointcloud2_to_xyz(out["clouds"][-1])
    assert _check_on_surfaces(xyz, out["layout"]) <= 2 * VOXEL


def test_fusion_node_refuses_bad_parameters_and_missing_tf() -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = DepthFusionNode(context=context)
        assert node.set_parameters([Parameter("fusion.integration_rate_hz", value=2.0)])[0].successful
        assert node.values["fusion.integration_rate_hz"] == 2.0
        refused = node.set_parameters([Parameter("fusion.voxel_size_m", value=0.1)])[0]
        assert not refused.successful and "read-only" in refused.reason
        assert not node.set_parameters([Parameter("fusion.integration_rate_hz", value=-1.0)])[0].successful
        node.destroy_node()
        with pytest.raises(ConfigError, match="min_depth_m"):
            DepthFusionNode(context=context, parameter_overrides=[Parameter("fusion.min_depth_m", value=8.0),
                                                                  Parameter("fusion.max_depth_m", value=5.0)])
        try:
            import tf2_ros  # noqa: F401
        except ImportError:
            with pytest.raises(ConfigError, match="tf2_ros"):
                DepthFusionNode(context=context, parameter_overrides=[Parameter("fusion.pose_source", value="tf")])
    finally:
        rclpy.shutdown(context=context)


def test_fusion_node_without_poses_fuses_in_the_first_camera_frame(tmp_path: Path) -> None:
    # Gravity of fused/surfaces from the mounting parameters: the scene's first camera is 1.2 m up, pitched
    # down by asin(0.087); the report is then in base_link with the floor at z = 0.
    pose0 = SceneGenerator(width=160, height=120, seed=3, rgb_noise=0.0).pose_at(0)
    out = run_fusion(tmp_path, "none", **{"fusion.surfaces.enabled": True, "fusion.surfaces.rate_hz": 2.0,
                                          "fusion.surfaces.camera_height_m": float(pose0[2, 3]),
                                          "fusion.surfaces.camera_pitch_rad": float(np.arcsin(-pose0[2, 2]))})
    _floor(out, "base_link")
    assert out["fused"] >= N_FRAMES - 1
    assert out["node_frame"] == "camera_optical_frame"
    cloud = out["clouds"][-1]
    assert cloud.header.frame_id == "camera_optical_frame" and len(pointcloud2_to_xyz(cloud)) > 1000

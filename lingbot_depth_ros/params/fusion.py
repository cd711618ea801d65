"""Parameters of ``depth_fusion_node`` (no rclpy): one table, documented in docs/fusion.md."""

from __future__ import annotations

from typing import Any

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.param_spec import ParamSpec
from lingbot_depth_ros.params.lifecycle import lifecycle_params

POSE_SOURCES = ("tf", "odometry", "pose", "none")

FUSION_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("cameras", [""], "namespaces of the depth nodes to fuse (each publishes <ns>/depth/image, "
              "<ns>/depth/camera_info, and <ns>/image for colour); [''] = this node's namespace", read_only=True),
    ParamSpec("fusion.pose_source", "pose", "camera pose at each image stamp: tf (tf2_ros), odometry "
              "(nav_msgs/Odometry + fusion.mount_*), pose (geometry_msgs/PoseStamped of the optical frame "
              "on <ns>/<fusion.pose_topic>), none (everything in the first camera frame)",
              choices=POSE_SOURCES, read_only=True),
    ParamSpec("fusion.map_frame", "map", "fixed frame of the fused map (tf); odometry/pose use their header "
              "frame and warn when it differs", read_only=True),
    ParamSpec("fusion.pose_topic", "pose", "PoseStamped topic, relative to each camera namespace", read_only=True),
    ParamSpec("fusion.odom_topic", "odom", "Odometry topic (pose of the robot base in the map/odom frame)",
              read_only=True),
    ParamSpec("fusion.mount_x", 0.0, "camera body position on the base, forward [m] (odometry)"),
    ParamSpec("fusion.mount_y", 0.0, "camera body position on the base, left [m] (odometry)"),
    ParamSpec("fusion.mount_z", 0.0, "camera body position on the base, up [m] (odometry)"),
    ParamSpec("fusion.mount_roll", 0.0, "camera body roll on the base [rad] (odometry)"),
    ParamSpec("fusion.mount_pitch", 0.0, "camera body pitch on the base, + = down [rad] (odometry)"),
    ParamSpec("fusion.mount_yaw", 0.0, "camera body yaw on the base [rad] (odometry)"),
    ParamSpec("fusion.voxel_size_m", 0.04, "TSDF voxel edge [m]", min=0.002, max=1.0, read_only=True),
    ParamSpec("fusion.truncation_voxels", 4.0, "TSDF truncation [voxels]", min=1.0, max=20.0, read_only=True),
    ParamSpec("fusion.min_depth_m", 0.1, "depth below this is not fused [m]", min=0.0, max=100.0, read_only=True),
    ParamSpec("fusion.max_depth_m", 6.0, "depth beyond this is not fused [m]", min=0.1, max=200.0, read_only=True),
    ParamSpec("fusion.max_weight", 50.0, "per-voxel weight cap: older observations fade after this many frames",
              min=1.0, max=1e6, read_only=True),
    ParamSpec("fusion.weight_threshold", 2.0, "published points need more than this weight (~frames seen)",
              min=0.0, max=1e6, read_only=True),
    ParamSpec("fusion.confidence_weighting", False, "weight each pixel's TSDF update by its confidence: also "
              "subscribe <ns>/depth/confidence (matched by stamp; the depth node then computes it); a depth frame "
              "waits for its confidence and is fused unweighted (as confidence 1) when the next depth frame comes "
              "first or the sizes differ, counted as frames_unweighted_<reason> and warned once; the voxel weights "
              "become sums of confidences, so fusion.weight_threshold reads 'confidence-weighted frames'",
              read_only=True),
    ParamSpec("fusion.confidence_min", 0.0, "with fusion.confidence_weighting: pixels whose confidence is below "
              "this are not fused at all (0 = only confidence 0 / NaN left out)", min=0.0, max=1.0),
    ParamSpec("fusion.integration_rate_hz", 5.0, "frames fused per second per camera at most (0 = every frame)",
              min=0.0, max=1000.0),
    ParamSpec("fusion.max_blocks", 40000, "memory bound: blocks kept at most (8^3 voxels, 10 kB each)",
              min=16, max=10_000_000, read_only=True),
    ParamSpec("fusion.max_distance_m", 0.0, "memory bound: blocks farther than this from the camera are dropped "
              "(0 = none)", min=0.0, max=10000.0, read_only=True),
    ParamSpec("fusion.device", "CPU:0", "Open3D device: CPU:0, or CUDA:0 with the CUDA open3d wheel", read_only=True),
    ParamSpec("fusion.publish_rate_hz", 1.0, "fused/points publishing rate [Hz] (0 = never)", min=0.0, max=50.0,
              read_only=True),
    ParamSpec("fusion.publish_voxel_m", 0.0, "voxel downsampling of fused/points [m] (0 = one point per surface "
              "voxel crossing)", min=0.0, max=10.0),
    ParamSpec("fusion.output_dir", ".", "where ~/save_mesh writes mesh.ply and fused.ply"),
    ParamSpec("fusion.max_pose_gap_s", 0.5, "no pose interpolation across a longer gap [s]", min=0.0, max=60.0),
    ParamSpec("fusion.max_pose_extrapolation_s", 0.1, "an image this far past the newest pose still takes it [s]",
              min=0.0, max=10.0),
    ParamSpec("fusion.max_pose_speed_m_s", 50.0, "pose jump guard: a camera moving faster than this between two "
              "poses (interpolation) or two frames is a jump (relocalisation, reset), not motion: such a frame is "
              "not fused, counted as pose_jump [m/s] (0 = no guard)", min=0.0, max=100000.0),
)

def _fused_surface_params() -> tuple[ParamSpec, ...]:
    """fusion.surfaces.*: planar surfaces of the fused map (the surface knobs reuse the surfaces.* specs)."""
    from dataclasses import replace

    from lingbot_depth_ros.params.navigation import NAVIGATION_PARAMS_BY_NAME
    from lingbot_depth_ros.params.surfaces import SURFACE_PARAMS_BY_NAME

    own = (
        ParamSpec("fusion.surfaces.enabled", False, "find planar surfaces in the fused map and publish "
                  "fused/surfaces (JSON) and fused/surfaces/markers (on a worker thread; integration never waits)",
                  read_only=True),
        ParamSpec("fusion.surfaces.rate_hz", 0.5, "fused-map surface analyses per second at most [Hz]",
                  min=0.01, max=10.0, read_only=True),
        ParamSpec("fusion.surfaces.voxel_m", 0.0, "voxel of the surface analysis [m] (0 = fusion.voxel_size_m)",
                  min=0.0, max=1.0),
    )
    own_text = {"max_tilt_deg": "A surface is horizontal when its normal is within this angle of up (map z; with "
                "pose_source none from fusion.surfaces.camera_*) [deg].",
                "distance_threshold_m": "Plane inlier distance [m], plus half the analysis voxel.",
                "markers": "Publish fused/surfaces/markers (outlines, normals, free squares, labels for RViz)."}
    reused = tuple(replace(SURFACE_PARAMS_BY_NAME["surfaces." + n], name="fusion.surfaces." + n,
                           description=own_text.get(n, SURFACE_PARAMS_BY_NAME["surfaces." + n].description))
                   for n in ("max_tilt_deg", "clearance_m", "min_area_m2", "distance_threshold_m",
                             "normal_angle_deg", "max_curvature_per_m", "max_surfaces", "markers"))
    mounting = (replace(NAVIGATION_PARAMS_BY_NAME["obstacles.base_frame"], name="fusion.surfaces.base_frame",
                        description="pose_source none only: z-up frame of the fused surfaces (the map is the "
                        "first camera's optical frame; gravity from fusion.surfaces.camera_*)"),) + tuple(
        replace(NAVIGATION_PARAMS_BY_NAME["obstacles.camera." + n], name="fusion.surfaces.camera_" + n,
                description="pose_source none only: first camera's " + NAVIGATION_PARAMS_BY_NAME[
                    "obstacles.camera." + n].description[len("Camera "):])
        for n in ("height_m", "pitch_rad", "roll_rad"))
    return own + reused + mounting


FUSION_PARAMS = FUSION_PARAMS + _fused_surface_params() + lifecycle_params("the TSDF volume")
PARAMS_BY_NAME = {p.name: p for p in FUSION_PARAMS}


def check_values(values: dict[str, Any]) -> None:
    """Raise ConfigError naming the first bad parameter."""
    for name, value in values.items():
        spec = PARAMS_BY_NAME.get(name)
        problem = spec.check(value) if spec else None
        if problem:
            raise ConfigError(problem)
    if values.get("fusion.min_depth_m", 0.0) >= values.get("fusion.max_depth_m", 1.0):
        raise ConfigError("fusion.min_depth_m must be below fusion.max_depth_m")
    device = str(values.get("fusion.device", "CPU:0"))
    if not device.startswith(("CPU:", "CUDA:")):
        raise ConfigError(f"fusion.device='{device}' is not CPU:<n> or CUDA:<n>")


#: launch argument -> parameter (launch/fusion.launch.py and ``fusion:=true`` of lingbot_depth.launch.py)
LAUNCH_ARGUMENTS: dict[str, str] = {"pose_source": "fusion.pose_source", "map_frame": "fusion.map_frame",
                                    "voxel_size_m": "fusion.voxel_size_m", "device": "fusion.device",
                                    "output_dir": "fusion.output_dir", "lifecycle": "lifecycle",
                                    "autostart": "autostart"}
FUSION_EXECUTABLE = "depth_fusion_node"
FUSION_NODE_NAME = "depth_fusion_node"


def launch_parameters(values: dict[str, str], cameras: list[str]) -> dict[str, Any]:
    """Parameter overrides of the fusion node from launch argument strings (empty = the default).

    Raises:
        ConfigError: a value that is not valid for its parameter (named).
    """
    overrides: dict[str, Any] = {"cameras": [c.strip() for c in cameras] or [""]}
    for argument, name in LAUNCH_ARGUMENTS.items():
        text = str(values.get(argument, "")).strip()
        if not text:
            continue
        spec = PARAMS_BY_NAME[name]
        value: Any = text
        if isinstance(spec.default, bool):
            if text.lower() not in ("true", "false"):
                raise ConfigError(f"{argument}:={text} is not true or false")
            value = text.lower() == "true"
        elif isinstance(spec.default, float):
            try:
                value = float(text)
            except ValueError:
                raise ConfigError(f"{argument}:={text} is not a number") from None
        problem = spec.check(value)
        if problem:
            raise ConfigError(f"launch argument {argument}: {problem}")
        overrides[name] = value
    check_values(overrides)
    return overrides


def markdown_table() -> str:
    """The Markdown table of these parameters (docs/fusion.md)."""
    rows = ["| parameter | default | range | meaning |", "|---|---|---|---|"]
    for p in FUSION_PARAMS:
        default = "''" if p.default == "" else p.default
        rows.append(f"| `{p.name}` | `{default}` | {p.range_text()} | {p.description} |")
    return "\n".join(rows)


__all__ = ["FUSION_EXECUTABLE", "FUSION_NODE_NAME", "FUSION_PARAMS", "LAUNCH_ARGUMENTS", "PARAMS_BY_NAME",
           "POSE_SOURCES", "check_values", "launch_parameters", "markdown_table"]

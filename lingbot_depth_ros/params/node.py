"""Every parameter of the depth node, declared once: name, default, range, meaning.

This table is the single source of truth: the node declares its parameters from it, the YAML in
config/ and the README table are checked against it by the tests. It imports no rclpy so it can be
read anywhere; :func:`descriptor` builds the rcl_interfaces descriptor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lingbot_depth_ros.colorize import COLORMAPS
from lingbot_depth_ros.estimators.registry import estimator_class, estimator_classes, estimator_names, estimator_params
from lingbot_depth_ros.geometry.scale_alignment import DEFAULT_MIN_INLIER_RATIO, DEFAULT_MIN_INLIERS
from lingbot_depth_ros.param_spec import ParamSpec
from lingbot_depth_ros.params.confidence import CONFIDENCE_PARAMS
from lingbot_depth_ros.params.guard import GUARD_PARAMS
from lingbot_depth_ros.params.lifecycle import lifecycle_params
from lingbot_depth_ros.params.navigation import NAVIGATION_PARAMS, check_navigation_consistency
from lingbot_depth_ros.params.surfaces import SURFACE_PARAMS
from lingbot_depth_ros.params.temporal import TEMPORAL_PARAMS


def _estimator_description() -> str:
    """The ``estimator`` parameter's meaning: every registered estimator with its summary."""
    named = [f"{name} ({cls.summary})" for name, cls in estimator_classes().items()]
    listed = ", ".join(named[:-1]) + " or " + named[-1] if len(named) > 1 else named[0]
    return f"Depth estimator: {listed}; README 'Estimators'."


P = ParamSpec
NODE_PARAMS: tuple[ParamSpec, ...] = (
    # estimator and mode
    P("estimator", "classical", _estimator_description(), choices=estimator_names(), read_only=True),
    P("mode", "auto", "auto (completion while sparse depth arrives, otherwise monocular if the estimator can; "
      "a completion-only estimator then publishes nothing and warns), completion (RGB + sparse depth) or "
      "monocular (RGB only; must be supported by the estimator).",
      choices=("completion", "monocular", "auto")),
    # inputs and synchronization
    P("input_qos", "sensor_data", "QoS of the input subscriptions: sensor_data (best effort, matches camera "
      "drivers) or reliable (matches reliable publishers such as some bag players).",
      choices=("sensor_data", "reliable"), read_only=True),
    P("output_qos", "reliable", "QoS of the outputs: reliable (RViz default; best-effort subscribers still "
      "connect) or sensor_data (best effort).", choices=("reliable", "sensor_data"), read_only=True),
    P("sparse_input", "depth_image", "Where sparse depth comes from: depth_image (sparse_depth topic, 16UC1 mm "
      "or 32FC1 m) or pointcloud (lidar_points PointCloud2, projected into the image with CameraInfo and the "
      "lidar.* extrinsics or tf2).", choices=("depth_image", "pointcloud"), read_only=True),
    P("image_transport", "raw", "Transport of the colour image, as image_transport names it: raw (image, "
      "sensor_msgs/Image) or compressed (<image>/compressed, sensor_msgs/CompressedImage jpeg/png; the base "
      "name is remapped first, so image:=/cam/image_raw reads /cam/image_raw/compressed).",
      choices=("raw", "compressed"), read_only=True),
    P("sparse_transport", "raw", "Transport of the sparse depth image (sparse_input depth_image): raw "
      "(sparse_depth, sensor_msgs/Image) or compressedDepth (<sparse_depth>/compressedDepth: 16UC1 png/rvl "
      "or 32FC1 inverse-depth png/rvl).", choices=("raw", "compressedDepth"), read_only=True),
    P("camera.rectified", False, "The colour image is rectified (image_rect): geometry (cloud, obstacles, "
      "LiDAR projection) comes from CameraInfo P, without distortion. Otherwise from K (the cloud treats the "
      "raw image as an ideal pinhole; the LiDAR projection applies D).", read_only=True),
    P("cameras", [], "Camera namespaces served by this one node and its one estimator, e.g. [front, left]: each "
      "camera has its own inputs, synchronizer and outputs under its name (front/image ... front/depth/image, "
      "front/points, front/obstacles/*, diagnostics 'front/pipeline'); frames ready at the same time are "
      "estimated as one batch. Empty: one camera, topics relative to the node's namespace.", read_only=True),
    P("batch_wait_s", 0.01, "cameras: when one camera's set is ready, wait up to this long [s] for the sets of the "
      "other cameras that are publishing, so frames of one instant share one forward instead of queueing behind "
      "each other; 0 = take whatever is ready.", min=0.0, max=10.0),
    P("queue_size", 10, "Messages kept per input stream while waiting for a match.", min=1, max=100),
    P("slop_s", 0.05, "Largest stamp difference [s] between the image and the camera_info / sparse depth "
      "of one set.", min=0.0, max=1.0),
    P("sparse_timeout_s", 1.0, "auto mode: sparse depth counts as stopped when none arrived for this long "
      "[s]; the node then runs monocular until it resumes. The floor of the timeout in force: after longer gaps "
      "between sparse messages (bursty arrival) it is 2x the longest of the last 20 gaps, at most 10 s "
      "(diagnostics 'sparse timeout [s]'); a value above that always wins.", min=0.05, max=60.0),
    P("no_sync_warn_s", 3.0, "Warn (once, with the concrete reason) when inputs arrive but nothing has "
      "paired for this long [s].", min=0.5, max=600.0),
    # scale alignment
    P("align_to_sparse", "off", "Fit the estimator's depth to the sparse depth of the same frame with a robust "
      "(RANSAC/IRLS) scale or scale+shift, rejecting disagreeing LiDAR points: for estimators whose depth is "
      "relative or poorly scaled. In monocular mode the node then still subscribes to the sparse input, "
      "but uses it only for the fit. Disparity outputs (relative Depth Anything) are fitted in inverse depth. "
      "Required by relative estimators (startup refused with off): their output is never published unaligned.",
      choices=("off", "scale", "scale_shift")),
    P("align.method", "ransac", "Robust fitting method of align_to_sparse.", choices=("ransac", "irls")),
    P("align.inlier_threshold", 0.05, "Relative depth residual under which a LiDAR point is an inlier of the fit.",
      min=0.001, max=1.0),
    P("align.min_inlier_ratio", DEFAULT_MIN_INLIER_RATIO, "Smallest share of the LiDAR points that must be inliers "
      "of an accepted fit; a fit below it, or with a scale <= 0 (prediction against the LiDAR), is refused: a "
      "relative estimator's frame is dropped (alignment_rejected), a metric one is published unaligned.",
      min=0.0, max=1.0),
    P("align.min_inliers", DEFAULT_MIN_INLIERS, "Fewest LiDAR inliers of an accepted fit (otherwise refused as "
      "align.min_inlier_ratio says).", min=0, max=1000000),
    # faults
    P("oom_retry", True, "On an estimator out-of-memory error, retry the frame at a lower resolution level "
      "(LingBot-Depth) and keep that level; otherwise only drop the frame."),
    P("oom_retry_level_step", 3, "Resolution levels to step down per out-of-memory retry.", min=1, max=9),
    # diagnostics
    P("diagnostics.period_s", 1.0, "Period of the /diagnostics DiagnosticArray [s].", min=0.1, max=60.0),
    P("diagnostics.expected_rate_hz", 0.0, "Expected output rate [Hz]; WARN below (1 - rate_tolerance) of it. "
      "0 = no rate check.", min=0.0, max=1000.0),
    P("diagnostics.rate_tolerance", 0.5, "Fraction of the expected rate that may be missing before WARN.",
      min=0.0, max=1.0),
    P("diagnostics.stale_input_s", 2.0, "An input topic that was publishing and is silent for this long [s] "
      "is reported as stopped (WARN).", min=0.1, max=600.0),
    P("diagnostics.input_delay_warn_s", 0.5, "An input whose messages arrive this much later than their header "
      "stamps [s] (a quarter of its last 20) is reported as late (log warning, WARN), with the likely cause (a "
      "publisher not on this node's DDS profile, or a clock off); stamps over 60 s off are taken as another "
      "clock and not judged. 0 = off.", min=0.0, max=60.0),
    # depth output
    P("depth.min_m", 0.0, "Output depth below this [m] is written as NaN (invalid).", min=0.0, max=1000.0),
    P("depth.max_m", 100.0, "Output depth above this [m] is written as NaN (invalid).", min=0.01, max=1000.0),
    # colorized depth
    P("colorized.enabled", True, "Publish depth/colorized (rgb8) for RViz."),
    P("colorized.colormap", "turbo", "Colormap of depth/colorized.", choices=tuple(COLORMAPS)),
    P("colorized.range", "percentile", "Colour range: percentile (per frame) or fixed (min_m..max_m).",
      choices=("percentile", "fixed")),
    P("colorized.min_m", 0.3, "Near end of the fixed colour range [m].", min=0.0, max=1000.0),
    P("colorized.max_m", 10.0, "Far end of the fixed colour range [m].", min=0.01, max=1000.0),
    P("colorized.percentile_low", 2.0, "Lower percentile of valid depth mapped to the near end.",
      min=0.0, max=100.0),
    P("colorized.percentile_high", 98.0, "Upper percentile of valid depth mapped to the far end.",
      min=0.0, max=100.0),
    # point cloud
    P("cloud.enabled", True, "Publish the points PointCloud2."),
    P("cloud.organized", True, "Organized cloud (height x width grid, NaN for invalid, is_dense false) or "
      "unorganized (valid points only, height 1)."),
    P("cloud.rgb", True, "Add the rgb field (xyzrgb) coloured from the input image; otherwise xyz only."),
    P("cloud.stride", 2, "Pixel decimation of the cloud in both directions (1 = every pixel).", min=1, max=16),
    P("cloud.min_range_m", 0.1, "Points closer than this range [m] are dropped.", min=0.0, max=1000.0),
    P("cloud.max_range_m", 20.0, "Points farther than this range [m] are dropped.", min=0.01, max=1000.0),
)

# Options of the estimators, from each estimator's own table (estimators/registry.py): "<estimator>.<option>",
# passed to create_estimator(<estimator>, **{option: value}) for the selected estimator only.
ESTIMATOR_PARAMS: tuple[ParamSpec, ...] = estimator_params()

# The resolution-level governor of the node (estimators/rate_governor.py): node options, not estimator options.
GOVERNOR_PARAMS: tuple[ParamSpec, ...] = (
    P("lingbot.target_hz", 0.0, "Hold this estimator rate [Hz] by moving resolution_level between frames (one "
      "level down when the mean inference time of the last rate_window forwards exceeds 1/target_hz, one up "
      "when it is under rate_up_fraction of it; diagnostics show the level in use). Estimators with a "
      "resolution level (lingbot) only; 0 = off.", min=0.0, max=1000.0),
    P("lingbot.rate_window", 8, "Forwards averaged per lingbot.target_hz decision (the window restarts after "
      "every level change).", min=1, max=200),
    P("lingbot.rate_up_fraction", 0.6, "lingbot.target_hz steps the level up only when the mean inference time "
      "is below this fraction of the budget (hysteresis).", min=0.1, max=0.95),
)

# lifecycle, autostart: the managed (lifecycle) node (params/lifecycle.py)
LIFECYCLE_PARAMS: tuple[ParamSpec, ...] = lifecycle_params("the estimator (the model, the engine)")

ALL_PARAMS: tuple[ParamSpec, ...] = (NODE_PARAMS + CONFIDENCE_PARAMS + GUARD_PARAMS + TEMPORAL_PARAMS
                                     + ESTIMATOR_PARAMS + GOVERNOR_PARAMS + NAVIGATION_PARAMS + SURFACE_PARAMS
                                     + LIFECYCLE_PARAMS)
PARAMS_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in ALL_PARAMS}


_CAMERA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*")


def estimator_options(estimator: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword options for ``create_estimator(estimator, ...)`` from parameter values: every option of the
    estimator's table that ``values`` holds (``<estimator>.<option>``), its ``none_value`` turned into None."""
    options = {}
    for spec in estimator_class(estimator).options:
        name = f"{estimator}.{spec.name}"
        if name in values:
            value = values[name]
            options[spec.name] = None if spec.none_value is not None and value == spec.none_value else value
    return options


def check_consistency(values: Mapping[str, Any]) -> str | None:
    """Cross-parameter rules on a full set of values; the reason of the first violation or None."""
    pairs = (("depth.min_m", "depth.max_m"), ("colorized.min_m", "colorized.max_m"),
             ("colorized.percentile_low", "colorized.percentile_high"), ("cloud.min_range_m", "cloud.max_range_m"),
             ("classical.min_depth_m", "classical.max_depth_m"))
    for lo, hi in pairs:
        if lo in values and hi in values and not values[lo] < values[hi]:
            return f"{lo} ({values[lo]}) must be below {hi} ({values[hi]})"
    cameras = list(values.get("cameras") or [])
    for camera in cameras:
        if not _CAMERA_NAME.fullmatch(camera):
            return (f"cameras: '{camera}' is not a relative ROS namespace (letters, digits, _ and /, starting "
                    f"with a letter)")
    if len(set(cameras)) != len(cameras):
        return f"cameras: a camera is listed twice ({', '.join(cameras)})"
    if values.get("estimator") == "lingbot" and values.get("lingbot.backend") == "onnxruntime" \
            and not str(values.get("lingbot.engine_dir", "")).strip():
        return ("lingbot.backend onnxruntime needs lingbot.engine_dir: the folder written by lingbot-depth-export "
                "CHECKPOINT DIR --onnx")
    return check_navigation_consistency(values)

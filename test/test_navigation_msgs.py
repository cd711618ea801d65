"""JSON report schema and the ROS message builders (LaserScan, String, MarkerArray), serialized for real."""

from __future__ import annotations

import copy
import json
import math

import jsonschema
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Header, String
from visualization_msgs.msg import Marker, MarkerArray

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
from lingbot_depth_ros.navigation import ObstacleSectorAnalyzer, SectorConfig, dense_scan, sector_scan
from lingbot_depth_ros.navigation.obstacle_report import (
    REPORT_JSON_SCHEMA,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    report_to_dict,
    schema_errors,
)
from lingbot_depth_ros.ros.navigation_msgs import (
    LABEL_NAMESPACE,
    STATUS_COLORS,
    WEDGE_NAMESPACE,
    laser_scan_msg,
    recommendation_msg,
    sector_markers_msg,
)

K = CameraIntrinsics(fx=320.0, fy=320.0, cx=319.5, cy=239.5, width=640, height=480)
POSE = camera_pose_from_mounting(height_m=0.5, pitch_rad=0.0)
CFG = SectorConfig(blocked_distance_m=1.0, caution_distance_m=2.0)
HEADER = Header(stamp=Time(sec=1700000000, nanosec=250000000), frame_id="base_link")


def _depth_with_left_wall() -> np.ndarray:
    """Floor seen by a level camera 0.5 m high, a wall 1.5 m ahead on the left; right third of the image invalid."""
    u, v = np.meshgrid(np.arange(640), np.arange(480))
    a, b = (u - K.cx) / K.fx, (v - K.cy) / K.fy   # optical ray (a, b, 1) = base direction (1, -a, -b)
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = np.where(b > 0, 0.5 / b, np.inf)
        wall = np.where((-a * 1.5 >= 0.45) & (0.5 - b * 1.5 <= 2.0), 1.5, np.inf)  # x = 1.5 m, y >= 0.45 m
    depth = np.minimum(floor, wall)
    depth[depth > 20] = np.nan
    depth[:, 440:] = np.nan
    return depth.astype(np.float32)


@pytest.fixture(scope="module")
def report():
    return ObstacleSectorAnalyzer(CFG).analyze_depth(_depth_with_left_wall(), K, POSE)


def test_scene_has_all_three_kinds_of_sector(report) -> None:
    assert [s.status for s in report.sectors] == ["caution", "clear", "unknown"]


def test_json_report_follows_its_schema(report) -> None:
    msg = recommendation_msg(report, CFG, HEADER)
    assert isinstance(msg, String)
    assert "NaN" not in msg.data and "Infinity" not in msg.data
    doc = json.loads(msg.data)
    assert schema_errors(doc) == []
    assert doc["schema"] == SCHEMA_NAME and doc["version"] == SCHEMA_VERSION
    assert doc["stamp"] == {"sec": 1700000000, "nanosec": 250000000} and doc["frame_id"] == "base_link"
    assert doc["recommendation"] == report.recommendation == "forward" and doc["target_sector"] == "center"
    assert [s["name"] for s in doc["sectors"]] == ["left", "center", "right"]
    left, center, right = doc["sectors"]
    assert left["status"] == "caution" and 1.5 < left["distance_m"] < 1.7
    assert center["distance_m"] is None and right["distance_m"] is None and right["status"] == "unknown"
    assert left["angle_min"] == pytest.approx(math.radians(15), abs=1e-5)
    assert doc["thresholds"] == {"blocked_m": 1.0, "caution_m": 2.0, "hysteresis_m": 0.1}


def test_schema_checker_rejects_violations(report) -> None:
    good = report_to_dict(report, CFG, stamp_sec=1, stamp_nanosec=2, frame_id="base_link")
    assert schema_errors(good) == []
    cases = [("recommendation", "reverse", "'reverse' is not one of"), ("version", 2, "1 was expected")]
    for key, value, message in cases:
        bad = copy.deepcopy(good)
        bad[key] = value
        assert any(message in e for e in schema_errors(bad)), key
    bad = copy.deepcopy(good)
    bad["sectors"][0]["status"] = "maybe"
    del bad["sectors"][1]["distance_m"]
    bad["sectors"][2]["n_points"] = 1.5
    errors = schema_errors(bad)
    assert len(errors) == 3 and "$.sectors[1]: 'distance_m' is a required property" in errors
    assert "$.sectors[2].n_points: 1.5 is not of type 'integer'" in errors
    # The schema itself is valid JSON and a valid JSON Schema (it is what the README documents).
    assert json.loads(json.dumps(REPORT_JSON_SCHEMA))["properties"]["version"]["const"] == SCHEMA_VERSION
    jsonschema.Draft202012Validator.check_schema(REPORT_JSON_SCHEMA)


def test_laser_scan_msg_round_trips_with_rep117_values(report) -> None:
    scan = sector_scan(report, CFG)
    msg = laser_scan_msg(scan, HEADER, scan_time_s=1 / 15)
    back = deserialize_message(serialize_message(msg), LaserScan)
    assert back.header.frame_id == "base_link" and back.header.stamp.sec == 1700000000
    assert back.angle_min == pytest.approx(math.radians(-30)) and back.angle_max == pytest.approx(math.radians(30))
    assert back.angle_increment == pytest.approx(math.radians(30))
    assert back.range_min == pytest.approx(CFG.min_range_m) and back.range_max == pytest.approx(CFG.max_range_m)
    right, center, left = back.ranges
    assert math.isnan(right) and math.isinf(center) and center > 0 and 1.5 < left < 1.7
    assert back.scan_time == pytest.approx(1 / 15)
    # Number of rays is consistent with the angles, as LaserScan consumers compute it.
    dense = laser_scan_msg(dense_scan(report.ground, CFG, 64), HEADER)
    assert round((dense.angle_max - dense.angle_min) / dense.angle_increment) + 1 == len(dense.ranges) == 64


def test_markers_show_each_sector_coloured_by_status(report) -> None:
    msg = sector_markers_msg(report, CFG, HEADER)
    back = deserialize_message(serialize_message(msg), MarkerArray)
    markers = back.markers
    assert markers[0].action == Marker.DELETEALL
    assert len(markers) == 1 + 2 * 3 + 1
    wedges = [m for m in markers if m.ns == WEDGE_NAMESPACE]
    labels = [m for m in markers if m.ns == LABEL_NAMESPACE]
    assert [w.id for w in wedges] == [0, 1, 2] and len(labels) == 3
    for wedge, sector in zip(wedges, report.sectors):
        assert wedge.type == Marker.TRIANGLE_LIST and len(wedge.points) % 3 == 0
        assert wedge.header.frame_id == "base_link" and wedge.header.stamp.nanosec == 250000000
        rgba = (wedge.color.r, wedge.color.g, wedge.color.b, wedge.color.a)
        np.testing.assert_allclose(rgba, STATUS_COLORS[sector.status], atol=1e-6)
        radii = [math.hypot(p.x, p.y) for p in wedge.points]
        bearings = [math.atan2(p.y, p.x) for p in wedge.points if math.hypot(p.x, p.y) > 0]
        assert min(bearings) == pytest.approx(sector.angle_min, abs=1e-6)
        assert max(bearings) == pytest.approx(sector.angle_max, abs=1e-6)
        if sector.distance_m is not None:
            assert max(radii) == pytest.approx(sector.distance_m, abs=1e-6)
    assert labels[0].text == f"left: caution ({report.sectors[0].distance_m:.2f} m)"
    assert labels[1].text == "center: clear (no obstacle)" and labels[2].text == "right: unknown (no data)"
    assert markers[-1].text == "FORWARD"

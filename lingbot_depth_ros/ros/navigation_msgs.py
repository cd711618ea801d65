"""ROS messages from the pure navigation results: LaserScan, JSON String, RViz MarkerArray (no Node here).

Every builder takes the ``std_msgs/Header`` to stamp the message with: use the depth image's stamp and the
base frame (the frame the analysis is expressed in) as ``frame_id``.
"""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from sensor_msgs.msg import LaserScan
from std_msgs.msg import ColorRGBA, Header, String
from visualization_msgs.msg import Marker, MarkerArray

from lingbot_depth_ros.navigation.obstacle_report import report_to_json
from lingbot_depth_ros.navigation.scan import ScanRanges
from lingbot_depth_ros.navigation.sectors import BLOCKED, CAUTION, CLEAR, UNKNOWN, SectorConfig, SectorReport

#: RGBA of each status in RViz (translucent wedges).
STATUS_COLORS: dict[str, tuple[float, float, float, float]] = {
    CLEAR: (0.1, 0.8, 0.2, 0.35),
    CAUTION: (1.0, 0.75, 0.0, 0.45),
    BLOCKED: (0.9, 0.1, 0.1, 0.55),
    UNKNOWN: (0.5, 0.5, 0.5, 0.35),
}
WEDGE_NAMESPACE = "obstacle_sectors"
LABEL_NAMESPACE = "obstacle_sector_labels"
RECOMMENDATION_NAMESPACE = "obstacle_recommendation"
_WEDGE_SEGMENTS = 12


def _copy_header(header: Header) -> Header:
    return Header(stamp=header.stamp, frame_id=header.frame_id)


def laser_scan_msg(scan: ScanRanges, header: Header, scan_time_s: float = 0.0) -> LaserScan:
    """``sensor_msgs/LaserScan`` of ``scan`` (ranges ordered by increasing angle; NaN/+inf per REP 117).

    ``scan_time_s``: time between scans [s] (e.g. 1 / frame rate) or 0 if unknown; ``time_increment`` is 0
    because all rays come from one image.
    """
    msg = LaserScan()
    msg.header = _copy_header(header)
    msg.angle_min = float(scan.angle_min)
    msg.angle_max = float(scan.angle_max)
    msg.angle_increment = float(scan.angle_increment)
    msg.time_increment = 0.0
    msg.scan_time = float(scan_time_s)
    msg.range_min = float(scan.range_min)
    msg.range_max = float(scan.range_max)
    msg.ranges = np.asarray(scan.ranges, dtype=np.float32).tolist()
    msg.intensities = []
    return msg


def recommendation_msg(report: SectorReport, config: SectorConfig, header: Header) -> String:
    """``std_msgs/String`` with the JSON report (schema in :mod:`lingbot_depth_ros.navigation.obstacle_report`)."""
    return String(data=report_to_json(report, config, stamp_sec=header.stamp.sec,
                                      stamp_nanosec=header.stamp.nanosec, frame_id=header.frame_id))


def _color(status: str) -> ColorRGBA:
    r, g, b, a = STATUS_COLORS[status]
    return ColorRGBA(r=r, g=g, b=b, a=a)


def sector_markers_msg(report: SectorReport, config: SectorConfig, header: Header, *, z_m: float | None = None,
                       lifetime_s: float = 1.0) -> MarkerArray:
    """RViz markers: a DELETEALL, then per sector a coloured wedge (TRIANGLE_LIST) out to its obstacle distance
    (or to max(visible, caution) distance when free, capped at max_range_m) and a text label, plus one text with
    the recommendation. Drawn ``z_m`` above the frame origin (default: 1 cm above the floor)."""
    z = config.floor_z_m + 0.01 if z_m is None else float(z_m)
    lifetime = Duration(sec=int(lifetime_s), nanosec=int(round((lifetime_s - int(lifetime_s)) * 1e9)))
    markers = [Marker(header=_copy_header(header), action=Marker.DELETEALL)]
    for s in report.sectors:
        if s.distance_m is not None:
            radius = s.distance_m
        else:
            radius = max(s.visible_m or 0.0, config.caution_distance_m)
        radius = float(min(max(radius, 0.05), config.max_range_m))
        angles = np.linspace(s.angle_min, s.angle_max, _WEDGE_SEGMENTS + 1)
        rim = [Point(x=radius * math.cos(a), y=radius * math.sin(a), z=z) for a in angles]
        origin = Point(x=0.0, y=0.0, z=z)
        wedge = Marker(header=_copy_header(header), ns=WEDGE_NAMESPACE, id=s.index, type=Marker.TRIANGLE_LIST,
                       action=Marker.ADD, lifetime=lifetime, color=_color(s.status))
        wedge.pose.orientation.w = 1.0
        wedge.scale.x = wedge.scale.y = wedge.scale.z = 1.0
        wedge.points = [p for k in range(_WEDGE_SEGMENTS) for p in (origin, rim[k], rim[k + 1])]
        markers.append(wedge)
        middle = 0.5 * (s.angle_min + s.angle_max)
        label = Marker(header=_copy_header(header), ns=LABEL_NAMESPACE, id=s.index, type=Marker.TEXT_VIEW_FACING,
                       action=Marker.ADD, lifetime=lifetime, color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0))
        label.pose.position = Point(x=0.6 * radius * math.cos(middle), y=0.6 * radius * math.sin(middle), z=z + 0.15)
        label.pose.orientation.w = 1.0
        label.scale.z = 0.12
        if s.distance_m is not None:
            distance = f"{s.distance_m:.2f} m"
        else:
            distance = "no data" if s.status == UNKNOWN else "no obstacle"
        label.text = f"{s.name}: {s.status} ({distance})"
        markers.append(label)
    text = Marker(header=_copy_header(header), ns=RECOMMENDATION_NAMESPACE, id=0, type=Marker.TEXT_VIEW_FACING,
                  action=Marker.ADD, lifetime=lifetime, color=_color(BLOCKED if report.recommendation == "stop"
                                                                     else CLEAR if report.recommendation == "forward"
                                                                     else CAUTION))
    text.color.a = 1.0
    text.pose.position = Point(x=0.0, y=0.0, z=z + 0.5)
    text.pose.orientation.w = 1.0
    text.scale.z = 0.2
    text.text = report.recommendation.replace("_", " ").upper()
    markers.append(text)
    return MarkerArray(markers=markers)

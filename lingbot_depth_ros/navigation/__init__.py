"""Navigation aids from depth, in plain numpy (no rclpy): obstacle sectors, recommendation, LaserScan ranges."""

from lingbot_depth_ros.navigation.scan import ScanRanges, dense_scan, sector_scan
from lingbot_depth_ros.navigation.sectors import (
                                                  BLOCKED,
                                                  CAUTION,
                                                  CLEAR,
                                                  FORWARD,
                                                  RECOMMENDATIONS,
                                                  STATUSES,
                                                  STOP,
                                                  TURN_LEFT,
                                                  TURN_RIGHT,
                                                  UNKNOWN,
                                                  GroundPoints,
                                                  ObstacleSectorAnalyzer,
                                                  SectorConfig,
                                                  SectorReport,
                                                  SectorResult,
                                                  sector_names,
)

__all__ = ["BLOCKED", "CAUTION", "CLEAR", "FORWARD", "RECOMMENDATIONS", "STATUSES", "STOP", "TURN_LEFT", "TURN_RIGHT",
           "UNKNOWN", "GroundPoints", "ObstacleSectorAnalyzer", "ScanRanges", "SectorConfig", "SectorReport",
           "SectorResult", "dense_scan", "sector_names", "sector_scan"]

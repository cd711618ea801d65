"""The obstacle / LiDAR parameter table and its conversion into the pure configuration objects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.navigation import SectorConfig
from lingbot_depth_ros.params.navigation import (
    NAVIGATION_PARAMS,
    camera_mounting_from_params,
    check_navigation_consistency,
    lidar_extrinsics_from_params,
    sector_config_from_params,
)
from lingbot_depth_ros.params.node import ALL_PARAMS, ESTIMATOR_PARAMS, NODE_PARAMS


def test_table_is_well_formed_and_does_not_clash_with_the_node_table() -> None:
    names = [p.name for p in NAVIGATION_PARAMS]
    assert len(names) == len(set(names))
    assert not set(names) & {p.name for p in NODE_PARAMS + ESTIMATOR_PARAMS}
    assert set(names) <= {p.name for p in ALL_PARAMS}  # declared by the node
    for spec in NAVIGATION_PARAMS:
        assert spec.check(spec.default) is None, spec.name
        assert spec.description.strip()
    assert check_navigation_consistency({p.name: p.default for p in NAVIGATION_PARAMS}) is None


def test_defaults_build_the_default_sector_config() -> None:
    assert sector_config_from_params({}) == SectorConfig()


def test_values_reach_the_config_and_contradictions_are_refused() -> None:
    cfg = sector_config_from_params({"obstacles.num_sectors": 5, "obstacles.min_height_m": 0.05,
                                     "obstacles.caution_distance_m": 1.5, "obstacles.sub_bins": 4})
    assert (cfg.num_sectors, cfg.min_obstacle_height_m, cfg.caution_distance_m, cfg.sub_bins) == (5, 0.05, 1.5, 4)
    with pytest.raises(ConfigError, match="obstacles.min_height_m .* must be below obstacles.max_height_m"):
        sector_config_from_params({"obstacles.min_height_m": 2.0})
    with pytest.raises(ConfigError, match="must not exceed obstacles.caution_distance_m"):
        sector_config_from_params({"obstacles.blocked_distance_m": 2.0})
    spec = {p.name: p for p in NAVIGATION_PARAMS}
    assert "not one of" in spec["obstacles.scan_mode"].check("polar")
    assert "below its minimum" in spec["obstacles.num_sectors"].check(0)


def test_fallback_camera_mounting() -> None:
    pose = camera_mounting_from_params({"obstacles.camera.height_m": 0.8,
                                        "obstacles.camera.pitch_rad": math.radians(30), "obstacles.camera.x_m": 0.25})
    # The optical axis meets the floor 0.8 / tan(30 deg) ahead of the camera.
    hit = pose.apply(np.array([[0.0, 0.0, 0.8 / math.sin(math.radians(30))]]))[0]
    np.testing.assert_allclose(hit, [0.25 + 0.8 / math.tan(math.radians(30)), 0.0, 0.0], atol=1e-9)


def test_fallback_lidar_extrinsics() -> None:
    identity_mount = lidar_extrinsics_from_params({})
    # Default: LiDAR at the camera with x forward, y left, z up.
    np.testing.assert_allclose(identity_mount.apply(np.array([[5.0, 1.0, 2.0]])), [[-1.0, -2.0, 5.0]], atol=1e-12)
    turned = lidar_extrinsics_from_params({"lidar.yaw_rad": math.pi / 2, "lidar.z_m": 0.1})
    # LiDAR turned left by 90 deg: its x axis points to the camera's left (optical -x); 0.1 m up = optical -y.
    np.testing.assert_allclose(turned.apply(np.array([[2.0, 0.0, 0.0]])), [[-2.0, -0.1, 0.0]], atol=1e-12)

"""Obstacle sectors in the ground plane from camera depth or 3D points (plain numpy, no ROS).

Frame: everything is measured in the robot base frame (REP 103: x forward, y left, z up), whose origin
is the reference point of every distance and angle:

- bearing = atan2(y, x) [rad], 0 = straight ahead, positive = to the left (counter-clockwise);
- distance = horizontal distance hypot(x, y) [m] from the base frame's z axis;
- height above the floor = z - ``floor_z_m`` (``floor_z_m`` = 0 when the base frame is ``base_footprint``).

The field of view (the camera's horizontal bearing span, or ``fov_rad``) is split into ``num_sectors``
equal sectors, reported **left to right** (index 0 = leftmost). In each sector:

- *obstacle points* are valid points with min_obstacle_height_m <= height <= max_obstacle_height_m and
  min_range_m <= distance <= max_range_m (so the floor never counts);
- *distance_m*: the sector is cut into ``sub_bins`` equal sub-bins; in each sub-bin holding at least
  ``min_points`` obstacle points, take the ``percentile``-th percentile of their distances; the sector's
  distance is the smallest of these, None when no sub-bin qualifies. A few noisy pixels therefore never make
  an obstacle, and a thin post in front of a wide wall is not averaged away by the wall's many points;
- the sector is *observed* when it holds at least ``min_points`` valid points (any height) and, with depth
  input, at least ``min_valid_fraction`` of the pixels whose rays should hit the floor within
  ``max_range_m`` returned a valid depth;
- *visible_m* = the 90th percentile of the valid points' distances (capped at ``max_range_m``): how far the
  sector is actually seen.

Status (raw, before hysteresis): with an obstacle, ``blocked`` below ``blocked_distance_m``, ``caution`` below
``caution_distance_m``, else ``clear``. Without an obstacle: ``clear`` only when observed and seen at least
``caution_distance_m`` far, otherwise ``unknown``. Invalid or missing depth therefore never reads as clear.

Hysteresis (state kept in the analyzer): a status becomes more restrictive immediately; it relaxes only
when the distance clears the thresholds shifted up by ``hysteresis_m`` (ranking clear < caution <
blocked = unknown).

Recommendation: ``stop`` when every sector is blocked or unknown; ``forward`` when the sector(s) straddling
bearing 0 are as good (by status) as the best sector; otherwise ``turn_left`` / ``turn_right`` towards the
best sector (best status, then largest free distance; distances within ``hysteresis_m`` count as equal,
then the previous choice is kept, then the sector nearest the centre, then left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import backproject
from lingbot_depth_ros.geometry.transforms import RigidTransform

CLEAR = "clear"
CAUTION = "caution"
BLOCKED = "blocked"
UNKNOWN = "unknown"
STATUSES = (CLEAR, CAUTION, BLOCKED, UNKNOWN)
_RANK = {CLEAR: 0, CAUTION: 1, BLOCKED: 2, UNKNOWN: 2}

FORWARD = "forward"
TURN_LEFT = "turn_left"
TURN_RIGHT = "turn_right"
STOP = "stop"
RECOMMENDATIONS = (FORWARD, TURN_LEFT, TURN_RIGHT, STOP)

VISIBLE_PERCENTILE = 90.0
_SORT_SCALE = 1.0e4  # > any distance [m] allowed (max_range_m <= 1000): packs (bin, distance) in one float64


def sector_names(n: int) -> tuple[str, ...]:
    """Names of ``n`` sectors, left to right: 1 center; 2 left, right; 3 left, center, right;
    4 far_left, left, right, far_right; 5 far_left, left, center, right, far_right; else sector_0.. (0 = left)."""
    table = {1: ("center",), 2: ("left", "right"), 3: ("left", "center", "right"),
             4: ("far_left", "left", "right", "far_right"), 5: ("far_left", "left", "center", "right", "far_right")}
    return table.get(n, tuple(f"sector_{i}" for i in range(n)))


@dataclass(frozen=True)
class SectorConfig:
    """Parameters of the obstacle-sector analysis (distances [m], angles [rad]). See the module docstring."""

    num_sectors: int = 3
    fov_rad: float = 0.0            # total bearing span of the sectors; 0 = the camera's (depth input only)
    center_rad: float = 0.0         # bearing of the span's centre when fov_rad > 0
    floor_z_m: float = 0.0          # z of the floor in the base frame
    min_obstacle_height_m: float = 0.10
    max_obstacle_height_m: float = 1.50
    min_range_m: float = 0.0        # closer points are ignored (e.g. the robot's own body)
    max_range_m: float = 8.0
    blocked_distance_m: float = 0.5
    caution_distance_m: float = 1.0
    hysteresis_m: float = 0.1
    percentile: float = 5.0
    min_points: int = 10
    min_valid_fraction: float = 0.5
    decimation: int = 4             # pixel stride used by analyze_depth
    sub_bins: int = 8               # percentile sub-bins per sector (the sector takes their minimum)

    def __post_init__(self) -> None:
        checks = (
            (1 <= self.num_sectors <= 64, f"num_sectors must be in [1, 64], got {self.num_sectors}"),
            (0.0 <= self.fov_rad <= 2 * math.pi, f"fov_rad must be in [0, 2 pi], got {self.fov_rad}"),
            (math.isfinite(self.center_rad) and math.isfinite(self.floor_z_m),
             "center_rad and floor_z_m must be finite"),
            (self.min_obstacle_height_m < self.max_obstacle_height_m,
             f"min_obstacle_height_m ({self.min_obstacle_height_m}) must be below max_obstacle_height_m "
             f"({self.max_obstacle_height_m})"),
            (0.0 <= self.min_range_m < self.max_range_m <= 1000.0,
             f"need 0 <= min_range_m < max_range_m <= 1000, got {self.min_range_m}, {self.max_range_m}"),
            (0.0 <= self.blocked_distance_m <= self.caution_distance_m,
             f"need 0 <= blocked_distance_m <= caution_distance_m, got {self.blocked_distance_m}, "
             f"{self.caution_distance_m}"),
            (self.hysteresis_m >= 0.0, f"hysteresis_m must be >= 0, got {self.hysteresis_m}"),
            (0.0 <= self.percentile <= 100.0, f"percentile must be in [0, 100], got {self.percentile}"),
            (self.min_points >= 1, f"min_points must be >= 1, got {self.min_points}"),
            (0.0 <= self.min_valid_fraction <= 1.0,
             f"min_valid_fraction must be in [0, 1], got {self.min_valid_fraction}"),
            (1 <= self.decimation <= 64, f"decimation must be in [1, 64], got {self.decimation}"),
            (1 <= self.sub_bins <= 64, f"sub_bins must be in [1, 64], got {self.sub_bins}"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass(frozen=True)
class GroundPoints:
    """Points reduced to the ground plane, shared by the sector analysis and the dense scan.

    ``angle_rad``: (M,) float64 bearing, unwrapped into [span_min, span_min + 2 pi); ``distance_m``: (M,)
    float32 horizontal distance (capped at max_range_m); ``obstacle``: (M,) bool in the height band and range.
    ``expected_angle_rad`` / ``expected_valid``: bearings of the pixels expected to see the floor within
    max_range_m, and whether each returned a valid depth (None for point input).
    """

    angle_rad: np.ndarray
    distance_m: np.ndarray
    obstacle: np.ndarray
    span_min_rad: float
    span_max_rad: float
    expected_angle_rad: np.ndarray | None = None
    expected_valid: np.ndarray | None = None


@dataclass(frozen=True)
class BinStats:
    """Per-bin statistics over equal angular bins of [span_min, span_max] (index 0 = smallest angle = right)."""

    obstacle_distance_m: np.ndarray  # (n,) float64, NaN where fewer than min_points obstacle points
    n_obstacle: np.ndarray           # (n,) int
    n_valid: np.ndarray              # (n,) int
    visible_m: np.ndarray            # (n,) float64, NaN where no valid point
    coverage: np.ndarray             # (n,) float64 valid fraction of expected rays, NaN where none expected
    observed: np.ndarray             # (n,) bool


@dataclass(frozen=True)
class SectorResult:
    """One sector (angles [rad] in the base frame, distances [m])."""

    index: int
    name: str
    angle_min: float
    angle_max: float
    distance_m: float | None   # robust nearest obstacle distance, None when no obstacle
    n_points: int              # obstacle points in the sector
    n_valid: int               # valid points in the sector (any height)
    visible_m: float | None
    coverage: float | None     # valid fraction of pixels expected to see the floor (depth input only)
    observed: bool
    raw_status: str            # from this frame alone
    status: str                # after hysteresis

    @property
    def free_distance_m(self) -> float:
        """Distance usable for ranking: the obstacle distance, else how far it is seen, else 0."""
        if self.distance_m is not None:
            return self.distance_m
        if self.observed and self.visible_m is not None:
            return math.inf if self.raw_status == CLEAR else self.visible_m
        return 0.0


@dataclass(frozen=True)
class SectorReport:
    """Result of one analysis. ``sectors`` are ordered left to right."""

    sectors: tuple[SectorResult, ...]
    recommendation: str
    target_sector: int | None   # index of the sector the recommendation heads for, None for stop
    ground: GroundPoints = field(repr=False)


def _bin_order_statistic(bins: np.ndarray, values: np.ndarray, n_bins: int, fraction: float,
                         min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bin: (count, value at rank floor(fraction * (count - 1)) of the sorted values, NaN below min_count).

    One float64 sort of (bin * scale + value) instead of a loop over bins.
    """
    counts = np.bincount(bins, minlength=n_bins)
    out = np.full(n_bins, np.nan)
    if bins.size == 0:
        return counts, out
    key = bins.astype(np.float64) * _SORT_SCALE + values
    key.sort()
    starts = np.cumsum(counts) - counts
    rank = np.floor(fraction * np.maximum(counts - 1, 0)).astype(np.int64)
    have = counts >= max(min_count, 1)
    idx = starts[have] + rank[have]
    out[have] = key[idx] - np.nonzero(have)[0] * _SORT_SCALE
    return counts, out


def bin_statistics(ground: GroundPoints, n_bins: int, config: SectorConfig, min_points: int,
                   sub_bins: int = 1) -> BinStats:
    """Statistics of ``n_bins`` equal angular bins spanning the ground points' field of view.

    The obstacle distance of a bin is the smallest of the percentile distances of its ``sub_bins`` equal
    sub-bins that hold at least ``min_points`` obstacle points, so an object narrower than the bin is not
    absorbed by the percentile of a wide background.
    """
    lo, hi = ground.span_min_rad, ground.span_max_rad
    scale = n_bins / (hi - lo)

    def bin_of(angle: np.ndarray, per_rad: float) -> np.ndarray:
        return np.floor((angle - lo) * per_rad).astype(np.int64)

    idx = bin_of(ground.angle_rad, scale)
    inside = (idx >= 0) & (idx < n_bins)
    obstacle = inside & ground.obstacle
    if sub_bins > 1:
        sub_idx = np.minimum(bin_of(ground.angle_rad[obstacle], scale * sub_bins), n_bins * sub_bins - 1)
        sub_counts, sub_distance = _bin_order_statistic(sub_idx, ground.distance_m[obstacle], n_bins * sub_bins,
                                                        config.percentile / 100.0, min_points)
        n_obstacle = sub_counts.reshape(n_bins, sub_bins).sum(axis=1)
        grouped = sub_distance.reshape(n_bins, sub_bins)
        any_valid = ~np.isnan(grouped).all(axis=1)
        obstacle_distance = np.full(n_bins, np.nan)
        obstacle_distance[any_valid] = np.nanmin(grouped[any_valid], axis=1)
    else:
        n_obstacle, obstacle_distance = _bin_order_statistic(idx[obstacle], ground.distance_m[obstacle], n_bins,
                                                             config.percentile / 100.0, min_points)
    n_valid, visible = _bin_order_statistic(idx[inside], ground.distance_m[inside], n_bins,
                                            VISIBLE_PERCENTILE / 100.0, 1)
    coverage = np.full(n_bins, np.nan)
    if ground.expected_angle_rad is not None and ground.expected_valid is not None:
        eidx = bin_of(ground.expected_angle_rad, scale)
        ein = (eidx >= 0) & (eidx < n_bins)
        expected = np.bincount(eidx[ein], minlength=n_bins)
        returned = np.bincount(eidx[ein & ground.expected_valid], minlength=n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            coverage = np.where(expected > 0, returned / np.maximum(expected, 1), np.nan)
    with np.errstate(invalid="ignore"):
        observed = (n_valid >= min_points) & ~(coverage < config.min_valid_fraction)
    return BinStats(obstacle_distance_m=obstacle_distance, n_obstacle=n_obstacle, n_valid=n_valid,
                    visible_m=visible, coverage=coverage, observed=observed)


def _classify(distance: float | None, observed: bool, visible: float | None, config: SectorConfig,
              margin: float) -> str:
    blocked, caution = config.blocked_distance_m + margin, config.caution_distance_m + margin
    if distance is not None:
        return BLOCKED if distance < blocked else CAUTION if distance < caution else CLEAR
    if observed and visible is not None and visible >= min(caution, config.max_range_m):
        return CLEAR
    return UNKNOWN


@dataclass
class _CameraGeometry:
    span: tuple[float, float]
    expected: np.ndarray        # (h*w,) bool: decimated pixel expected to see the floor within max range
    expected_angle: np.ndarray  # (K,) float64 bearing of those floor hits


class ObstacleSectorAnalyzer:
    """Stateful analyzer: keeps the previous statuses and recommendation for hysteresis.

    Use one analyzer per camera stream; call :meth:`reset` when the stream restarts.
    """

    def __init__(self, config: SectorConfig | None = None) -> None:
        self.config = config or SectorConfig()
        self.names = sector_names(self.config.num_sectors)
        self._previous: list[str] | None = None
        self._previous_target: int | None = None
        self._geometry_cache: dict[tuple, _CameraGeometry] = {}

    def reset(self) -> None:
        """Forget the hysteresis state."""
        self._previous = None
        self._previous_target = None

    # ------------------------------------------------------------------ inputs
    def prepare_points(self, points_base: np.ndarray, span: tuple[float, float] | None = None,
                       expected: tuple[np.ndarray, np.ndarray] | None = None) -> GroundPoints:
        """Reduce (N, 3) base-frame points [m] (NaN rows ignored) to :class:`GroundPoints`.

        ``span``: (min, max) bearing [rad] of the field of view; default from ``fov_rad``/``center_rad``.
        """
        cfg = self.config
        pts = np.asarray(points_base)
        if pts.ndim < 2 or pts.shape[-1] != 3:
            raise InputError(f"points must be (N, 3), got shape {pts.shape}")
        pts = pts.reshape(-1, 3)
        if span is None:
            if cfg.fov_rad <= 0.0:
                raise ConfigError("fov_rad must be > 0 to analyse points without camera intrinsics")
            span = (cfg.center_rad - cfg.fov_rad / 2.0, cfg.center_rad + cfg.fov_rad / 2.0)
        lo, hi = float(span[0]), float(span[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < hi - lo <= 2 * math.pi + 1e-9):
            raise InputError(f"bearing span must satisfy 0 < max - min <= 2 pi, got {span}")
        x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
        if not finite.all():
            x, y, z = x[finite], y[finite], z[finite]
        distance = np.hypot(x, y)
        angle = (np.arctan2(y, x).astype(np.float64) - lo) % (2 * math.pi) + lo
        height = z - np.float32(cfg.floor_z_m)
        obstacle = ((height >= cfg.min_obstacle_height_m) & (height <= cfg.max_obstacle_height_m)
                    & (distance >= cfg.min_range_m) & (distance <= cfg.max_range_m))
        distance = np.minimum(distance, np.float32(cfg.max_range_m))
        exp_angle, exp_valid = (None, None) if expected is None else expected
        if exp_angle is not None:
            exp_angle = (exp_angle - lo) % (2 * math.pi) + lo
        return GroundPoints(angle_rad=angle, distance_m=distance, obstacle=obstacle, span_min_rad=lo, span_max_rad=hi,
                            expected_angle_rad=exp_angle, expected_valid=exp_valid)

    def _camera_geometry(self, intrinsics: CameraIntrinsics, base_T_optical: RigidTransform) -> _CameraGeometry:
        cfg = self.config
        key = (intrinsics, cfg.decimation, base_T_optical.matrix().tobytes(), cfg.floor_z_m, cfg.max_range_m,
               cfg.fov_rad, cfg.center_rad)
        geometry = self._geometry_cache.get(key)
        if geometry is not None:
            return geometry
        rot, origin = base_T_optical.rotation, base_T_optical.translation
        # Bearing span from the rays through the image border (pixel edges at -0.5 and size - 0.5).
        us = np.linspace(-0.5, intrinsics.width - 0.5, 65)
        vs = np.linspace(-0.5, intrinsics.height - 0.5, 49)
        border = np.concatenate([np.column_stack([us, np.full_like(us, vs[0])]),
                                 np.column_stack([us, np.full_like(us, vs[-1])]),
                                 np.column_stack([np.full_like(vs, us[0]), vs]),
                                 np.column_stack([np.full_like(vs, us[-1]), vs])])
        rays = np.column_stack([(border[:, 0] - intrinsics.cx) / intrinsics.fx,
                                (border[:, 1] - intrinsics.cy) / intrinsics.fy, np.ones(len(border))]) @ rot.T
        heading_vec = rot[:, 2]
        if cfg.fov_rad > 0.0:
            span = (cfg.center_rad - cfg.fov_rad / 2.0, cfg.center_rad + cfg.fov_rad / 2.0)
        elif math.hypot(heading_vec[0], heading_vec[1]) < 1e-6:
            raise InputError("the camera looks straight up or down: its horizontal bearing is undefined; "
                             "set fov_rad/center_rad explicitly")
        else:
            heading = math.atan2(heading_vec[1], heading_vec[0])
            horizontal = np.hypot(rays[:, 0], rays[:, 1]) > 1e-6
            rel = (np.arctan2(rays[horizontal, 1], rays[horizontal, 0]) - heading + math.pi) % (2 * math.pi) - math.pi
            span = (heading + float(rel.min()), heading + float(rel.max()))
        # Pixels whose ray meets the floor within max_range_m: a valid depth is expected there.
        stride = cfg.decimation
        u = np.arange(0, intrinsics.width, stride, dtype=np.float64)
        v = np.arange(0, intrinsics.height, stride, dtype=np.float64)
        uu, vv = np.meshgrid((u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy)
        dirs = np.stack([uu.ravel(), vv.ravel(), np.ones(uu.size)], axis=1) @ rot.T
        drop = cfg.floor_z_m - origin[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(dirs[:, 2] < 0, drop / dirs[:, 2], np.inf)
            hit_x = origin[0] + t * dirs[:, 0]
            hit_y = origin[1] + t * dirs[:, 1]
            expected = (t > 0) & np.isfinite(t) & (np.hypot(hit_x, hit_y) <= cfg.max_range_m)
        geometry = _CameraGeometry(span=span, expected=expected,
                                   expected_angle=np.arctan2(hit_y[expected], hit_x[expected]))
        if len(self._geometry_cache) > 8:
            self._geometry_cache.clear()
        self._geometry_cache[key] = geometry
        return geometry

    # ------------------------------------------------------------------ analysis
    def prepare_depth(self, depth_m: np.ndarray, intrinsics: CameraIntrinsics,
                      base_T_optical: RigidTransform) -> GroundPoints:
        """Decimate and back-project a depth image (NaN/<=0 invalid) and reduce it to ground points."""
        depth = np.asarray(depth_m)
        if depth.ndim != 2:
            raise InputError(f"depth must be (H, W), got shape {depth.shape}")
        if depth.dtype != np.float32:
            depth = depth.astype(np.float32)
        geometry = self._camera_geometry(intrinsics, base_T_optical)
        xyz = backproject(depth, intrinsics, self.config.decimation).reshape(-1, 3)
        valid = ~np.isnan(xyz[:, 2])
        pts_base = base_T_optical.apply(xyz[valid])
        return self.prepare_points(pts_base, span=geometry.span,
                                   expected=(geometry.expected_angle, valid[geometry.expected]))

    def analyze_depth(self, depth_m: np.ndarray, intrinsics: CameraIntrinsics,
                      base_T_optical: RigidTransform) -> SectorReport:
        """Analyse an (H, W) float depth image [m] (NaN/0 = invalid) seen by a camera at ``base_T_optical``."""
        return self.analyze(self.prepare_depth(depth_m, intrinsics, base_T_optical))

    def analyze_points(self, points_base: np.ndarray, span: tuple[float, float] | None = None) -> SectorReport:
        """Analyse (N, 3) points [m] in the base frame. Without coverage information a sector is only
        observed through its point count, so feed all valid points (floor included)."""
        return self.analyze(self.prepare_points(points_base, span=span))

    def analyze(self, ground: GroundPoints) -> SectorReport:
        """Sector statuses (with hysteresis) and the recommendation for prepared ground points."""
        cfg = self.config
        n = cfg.num_sectors
        stats = bin_statistics(ground, n, cfg, cfg.min_points, cfg.sub_bins)
        width = (ground.span_max_rad - ground.span_min_rad) / n
        previous = self._previous
        results = []
        for i in range(n):            # i = 0 is the leftmost sector = the highest angular bin
            b = n - 1 - i
            distance = None if np.isnan(stats.obstacle_distance_m[b]) else float(stats.obstacle_distance_m[b])
            visible = None if np.isnan(stats.visible_m[b]) else float(stats.visible_m[b])
            coverage = None if np.isnan(stats.coverage[b]) else float(stats.coverage[b])
            observed = bool(stats.observed[b])
            raw = _classify(distance, observed, visible, cfg, 0.0)
            status = raw
            if previous is not None and _RANK[raw] < _RANK[previous[i]]:
                relaxed = _classify(distance, observed, visible, cfg, cfg.hysteresis_m)
                status = relaxed if _RANK[relaxed] < _RANK[previous[i]] else previous[i]
            results.append(SectorResult(
                index=i, name=self.names[i], angle_min=ground.span_min_rad + b * width,
                angle_max=ground.span_min_rad + (b + 1) * width, distance_m=distance, n_points=int(stats.n_obstacle[b]),
                n_valid=int(stats.n_valid[b]), visible_m=visible, coverage=coverage, observed=observed,
                raw_status=raw, status=status))
        recommendation, target = self._recommend(results)
        self._previous = [r.status for r in results]
        self._previous_target = target
        return SectorReport(sectors=tuple(results), recommendation=recommendation, target_sector=target,
                            ground=ground)

    def _recommend(self, sectors: list[SectorResult]) -> tuple[str, int | None]:
        best_rank = min(_RANK[s.status] for s in sectors)
        if best_rank >= _RANK[BLOCKED]:
            return STOP, None
        forward = [s for s in sectors if s.angle_min <= 0.0 <= s.angle_max]
        if forward and max(_RANK[s.status] for s in forward) == best_rank:
            return FORWARD, min(forward, key=lambda s: abs(0.5 * (s.angle_min + s.angle_max))).index
        candidates = [s for s in sectors if _RANK[s.status] == best_rank]
        top = max(s.free_distance_m for s in candidates)
        tol = self.config.hysteresis_m
        tied = [s for s in candidates if s.free_distance_m >= top - tol or s.free_distance_m == top]
        chosen = next((s for s in tied if s.index == self._previous_target), None)
        if chosen is None:
            chosen = min(tied, key=lambda s: (abs(0.5 * (s.angle_min + s.angle_max)), s.index))
        centre = 0.5 * (chosen.angle_min + chosen.angle_max)
        return (TURN_LEFT if centre > 0.0 else TURN_RIGHT), chosen.index

"""Procedural indoor scene (a corridor-like room with boxes) seen by a moving camera + LiDAR rig.

Everything is rendered analytically by vectorized ray casting (no rclpy, no GPU): an RGB image
whose colour edges follow the geometry, the exact ground-truth depth, and a simulated
multi-beam LiDAR scan both as points in the LiDAR frame and projected into the camera as a
sparse depth image. Deterministic for a given seed.

Frames: world (x forward along the corridor, y left, z up, floor at z = 0), rig/body (same axes,
moving), camera optical frame ``camera_optical_frame`` (x right, y down, z forward, REP 103/104),
LiDAR frame ``lidar`` (x forward, y left, z up), mounted ``lidar_offset_m`` from the camera: by default
0.27 m behind and 0.08 m above it, as on a KITTI-like car, so near foreground edges some far LiDAR
points show through in the camera image (parallax), as with every real LiDAR + camera rig.

Example::

    gen = SceneGenerator(width=640, height=480, seed=0)
    for frame in gen.frames(20):
        frame.rgb, frame.depth_gt_m, frame.sparse_depth_m, frame.lidar_points_lidar
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.synthetic.lidar import LidarConfig, project_to_sparse_depth, transform_points
from lingbot_depth_ros.synthetic.motion import MovingBox, check_static_segment, trajectory_index
from lingbot_depth_ros.synthetic.raycast import FIRST_BOX_ID, Box, cast_rays, rotate_axis_major
from lingbot_depth_ros.synthetic.shading import shade

CAMERA_FRAME_ID = "camera_optical_frame"
LIDAR_FRAME_ID = "lidar"
DEFAULT_START_NS = 1_700_000_000_000_000_000  # a fixed wall-clock-like epoch, so bags are reproducible

# Columns: the optical frame's x (right), y (down), z (forward) axes expressed in the body frame.
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0],
                           [-1.0, 0.0, 0.0],
                           [0.0, -1.0, 0.0]])


# Box corners as bit patterns (bit a set = the hi side along axis a) and the 12 edges between them.
_CORNER_BITS = np.array([[(c >> a) & 1 for a in range(3)] for c in range(8)], dtype=bool)
_BOX_EDGES = np.array([(c, c | (1 << a)) for c in range(8) for a in range(3) if not (c >> a) & 1])


def rig_pose(position: tuple[float, float, float] | np.ndarray, yaw_rad: float, pitch_rad: float) -> np.ndarray:
    """4x4 float64 T_world_body of a rig at ``position`` [m], yawed left by ``yaw_rad``, pitched down by
    ``pitch_rad``."""
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    yaw = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    pitch = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])  # +pitch tilts x towards -z
    pose = np.eye(4)
    pose[:3, :3] = yaw @ pitch
    pose[:3, 3] = np.asarray(position, dtype=np.float64)
    return pose


def camera_pose(position: tuple[float, float, float] | np.ndarray, yaw_rad: float, pitch_rad: float) -> np.ndarray:
    """4x4 float64 T_world_camera (optical frame) of a camera at ``position`` [m] with yaw and downward pitch [rad]."""
    pose = rig_pose(position, yaw_rad, pitch_rad)
    pose[:3, :3] = pose[:3, :3] @ R_BODY_OPTICAL
    return pose


def default_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """A Kinect-like pinhole (about 63° horizontal field of view) for a ``width`` x ``height`` image."""
    focal = 0.82 * width
    return CameraIntrinsics(fx=focal, fy=focal, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0,
                            width=width, height=height)


@dataclass
class SceneFrame:
    """One rendered frame.

    ``rgb``: (H, W, 3) uint8 RGB. ``depth_gt_m``: (H, W) float32 ground-truth depth along the
    optical axis [m] (every pixel valid: the room is closed). ``sparse_depth_m``: (H, W) float32
    LiDAR depth projected into the camera [m], 0 = no return. ``lidar_points_lidar``: (N, 3)
    float32 LiDAR returns [m] in the ``lidar`` frame, ``lidar_ring``: (N,) uint16 their beam index.
    ``camera_pose``: 4x4 float64 T_world_camera. ``camera_from_lidar``: 4x4 float64 T_camera_lidar
    (maps LiDAR-frame points into the camera optical frame). ``stamp_ns``: capture time [ns].
    ``moving_box_mask``: (H, W) bool, the pixels that see the moving box (None: the scene has none).
    """

    index: int
    stamp_ns: int
    rgb: np.ndarray
    depth_gt_m: np.ndarray
    sparse_depth_m: np.ndarray
    lidar_points_lidar: np.ndarray
    lidar_ring: np.ndarray
    intrinsics: CameraIntrinsics
    camera_pose: np.ndarray
    camera_from_lidar: np.ndarray
    moving_box_mask: np.ndarray | None = None


@dataclass(frozen=True)
class SceneLayout:
    """The static scene: room interior ``room_min``..``room_max`` (3,) [m], obstacle ``boxes``."""

    room_min: np.ndarray
    room_max: np.ndarray
    boxes: tuple[Box, ...]
    surface_colors: np.ndarray  # (6 + len(boxes), 3) float32 base RGB 0..1 per surface id


def random_layout(rng: np.random.Generator, n_boxes: int, path_length_m: float,
                  path_half_width_m: float, room_height_m: float = 2.8) -> SceneLayout:
    """A corridor-like room with ``n_boxes`` boxes placed away from the camera path.

    The camera path runs along x in [0, ``path_length_m``] with |y| <= ``path_half_width_m``.
    About half of the boxes stand ahead of the path, the rest along the side walls.
    """
    half_width = float(rng.uniform(1.8, 2.6))
    length = path_length_m + float(rng.uniform(9.0, 13.0))
    room_min = np.array([-1.5, -half_width, 0.0], dtype=np.float32)
    room_max = np.array([length, half_width, room_height_m], dtype=np.float32)
    boxes: list[Box] = []
    for k in range(n_boxes):
        size_xy = rng.uniform(0.35, 1.1, size=2)
        height = float(rng.uniform(0.3, 1.7))
        red, green, blue = rng.uniform(0.25, 0.95, size=3)
        color = (float(red), float(green), float(blue))
        if k % 2 == 0:  # ahead of the path
            x0 = float(rng.uniform(path_length_m + 1.5, length - 0.3 - size_xy[0]))
            y0 = float(rng.uniform(-half_width + 0.05, half_width - 0.05 - size_xy[1]))
        else:  # beside the path, clear of the camera corridor
            x0 = float(rng.uniform(-0.5, path_length_m + 1.0))
            side = 1.0 if rng.uniform() < 0.5 else -1.0
            inner = path_half_width_m + 0.6
            width = min(size_xy[1], half_width - 0.05 - inner)
            y0 = inner if side > 0 else -inner - width
            size_xy[1] = width
        boxes.append(Box(lo=(x0, y0, 0.0), hi=(x0 + float(size_xy[0]), y0 + float(size_xy[1]), height),
                         color=color))
    wall_colors = rng.uniform(0.55, 0.95, size=(4, 3))
    surface_colors = np.concatenate([
        np.array([[0.78, 0.72, 0.62], [0.92, 0.92, 0.9]]),  # floor, ceiling
        wall_colors,
        np.array([b.color for b in boxes]).reshape(-1, 3),
    ]).astype(np.float32)
    return SceneLayout(room_min=room_min, room_max=room_max, boxes=tuple(boxes), surface_colors=surface_colors)


class SceneGenerator:
    """Renders a deterministic procedural scene along a back-and-forth camera trajectory.

    Args:
        width, height: image size [px].
        seed: selects the room, the boxes, the trajectory phase and all noise.
        intrinsics: camera intrinsics (default: :func:`default_intrinsics`).
        lidar: LiDAR model (default: 32 beams, 0.2° azimuth steps, 2 cm + 0.1 % range noise,
            per-beam and range-dependent dropouts; see :class:`LidarConfig`).
        n_boxes: number of obstacle boxes.
        rate_hz: frame rate; frame i is stamped ``start_ns + i / rate_hz``.
        start_ns: stamp of frame 0 [ns].
        camera_height_m: camera height above the floor [m].
        camera_pitch_deg: downward pitch of the rig [deg].
        lidar_offset_m: LiDAR origin in the rig frame (x fwd, y left, z up) relative to the camera [m];
            default (-0.27, 0, 0.08): 0.27 m behind and 0.08 m above the camera (KITTI-like).
        path_length_m: the camera moves along x in [0, path_length_m] and back.
        speed_mps: peak forward speed [m/s].
        rgb_noise: standard deviation of the additive image noise [grey levels] (0 = none).
        moving_box: a box moving through the room (:class:`~lingbot_depth_ros.synthetic.motion.MovingBox`, e.g.
            :func:`~lingbot_depth_ros.synthetic.motion.crossing_box`), rendered at frame i's time i / rate_hz
            into the RGB, the ground truth and the LiDAR scan; None = a static scene.
        static_segment: (first frame, number of frames) during which the camera stands still (the trajectory
            goes on afterwards from where it stopped); None = it always moves.
    """

    def __init__(self, width: int = 640, height: int = 480, seed: int = 0, *,
                 intrinsics: CameraIntrinsics | None = None, lidar: LidarConfig | None = None,
                 n_boxes: int = 6, rate_hz: float = 10.0, start_ns: int = DEFAULT_START_NS,
                 camera_height_m: float = 1.2, camera_pitch_deg: float = 5.0,
                 lidar_offset_m: tuple[float, float, float] = (-0.27, 0.0, 0.08),
                 path_length_m: float = 3.0, speed_mps: float = 0.8, rgb_noise: float = 2.0,
                 moving_box: MovingBox | None = None, static_segment: tuple[int, int] | None = None) -> None:
        if width < 8 or height < 8:
            raise InputError(f"image must be at least 8x8, got {width}x{height}")
        if rate_hz <= 0:
            raise InputError(f"rate_hz must be > 0, got {rate_hz}")
        if n_boxes < 0:
            raise InputError(f"n_boxes must be >= 0, got {n_boxes}")
        if not 0.2 < camera_height_m < 2.5:
            raise InputError(f"camera_height_m must be in (0.2, 2.5) for the 2.8 m high room, got {camera_height_m}")
        self.intrinsics = intrinsics if intrinsics is not None else default_intrinsics(width, height)
        if (self.intrinsics.width, self.intrinsics.height) != (width, height):
            raise InputError(f"intrinsics are for {self.intrinsics.width}x{self.intrinsics.height}, "
                             f"image is {width}x{height}")
        self.width, self.height, self.seed = int(width), int(height), int(seed)
        self.lidar = lidar if lidar is not None else LidarConfig.preset(32)
        self.rate_hz = float(rate_hz)
        self.start_ns = int(start_ns)
        self.camera_height_m = float(camera_height_m)
        self.camera_pitch_rad = math.radians(camera_pitch_deg)
        self.path_length_m = float(path_length_m)
        self.speed_mps = float(speed_mps)
        self.moving_box = moving_box
        self.static_segment = check_static_segment(static_segment)
        rng = np.random.default_rng(self.seed)
        self._sway_m = 0.25
        self.layout = random_layout(rng, n_boxes, self.path_length_m, self._sway_m + 0.05)
        self._phase = float(rng.uniform(0.0, 2.0 * math.pi))
        self._box_lo = np.array([b.lo for b in self.layout.boxes], dtype=np.float32).reshape(-1, 3)
        self._box_hi = np.array([b.hi for b in self.layout.boxes], dtype=np.float32).reshape(-1, 3)
        # Camera rays (x_n, y_n, 1) in the optical frame: the ray parameter of a hit is its depth.
        u, v = np.meshgrid(np.arange(self.width, dtype=np.float32), np.arange(self.height, dtype=np.float32))
        k = self.intrinsics
        self._rays_optical = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)]
                                      ).reshape(3, -1).astype(np.float32)  # (3, H*W) axis-major
        self._lidar_dirs, self._lidar_ring = self.lidar.beam_directions()
        self._lidar_dirs_axis_major = np.ascontiguousarray(self._lidar_dirs.T)
        self.lidar_ring_dropout = self.lidar.beam_dropout_rates(np.random.default_rng([self.seed, 11]))
        body_from_lidar = np.eye(4)
        body_from_lidar[:3, 3] = lidar_offset_m
        body_from_camera = np.eye(4)
        body_from_camera[:3, :3] = R_BODY_OPTICAL
        self.camera_from_lidar = np.linalg.inv(body_from_camera) @ body_from_lidar
        pad = 32
        self._noise_pad = pad
        self._rgb_noise = (np.clip(rng.normal(0.0, rgb_noise, size=(height + 2 * pad, width + 2 * pad, 3)),
                                   -127, 127).astype(np.int16) if rgb_noise > 0 else None)

    # ------------------------------------------------------------------ trajectory
    def pose_at(self, index: int) -> np.ndarray:
        """T_world_camera (4x4 float64) of frame ``index`` on the back-and-forth trajectory (standing still
        during the static segment)."""
        t = trajectory_index(index, self.static_segment) / self.rate_hz
        omega = 2.0 * self.speed_mps / max(self.path_length_m, 1e-6)  # peak speed of x = L/2 (1 - cos wt)
        x = 0.5 * self.path_length_m * (1.0 - math.cos(omega * t))
        y = self._sway_m * math.sin(0.7 * omega * t + self._phase)
        yaw = 0.2 * math.sin(0.5 * omega * t + 2.0 * self._phase)
        return camera_pose((x, y, self.camera_height_m), yaw, self.camera_pitch_rad)

    def stamp_ns(self, index: int) -> int:
        """Capture time of frame ``index`` [ns]."""
        return self.start_ns + int(round(index * 1e9 / self.rate_hz))

    # ------------------------------------------------------------------ rendering
    def frame(self, index: int) -> SceneFrame:
        """Render frame ``index`` of the trajectory."""
        return self.render(self.pose_at(index), index=index, stamp_ns=self.stamp_ns(index))

    def frames(self, n: int, start: int = 0) -> Iterator[SceneFrame]:
        """Render ``n`` consecutive frames starting at ``start``."""
        if n < 0:
            raise InputError(f"number of frames must be >= 0, got {n}")
        for index in range(start, start + n):
            yield self.frame(index)

    def render(self, world_from_camera: np.ndarray, index: int = 0, stamp_ns: int = 0) -> SceneFrame:
        """Render the scene from an arbitrary camera pose (4x4 T_world_camera, optical frame)."""
        world_from_camera = np.asarray(world_from_camera, dtype=np.float64)
        if world_from_camera.shape != (4, 4):
            raise InputError(f"camera pose must be 4x4, got {world_from_camera.shape}")
        layout = self.layout
        boxes, colors, box_lo, box_hi = self._boxes_at(index)
        rotation = world_from_camera[:3, :3].astype(np.float32)
        origin = world_from_camera[:3, 3].astype(np.float32)
        dirs_world = rotate_axis_major(rotation, self._rays_optical)
        hits = cast_rays(origin, dirs_world, layout.room_min, layout.room_max, boxes,
                         candidates=self._box_pixel_candidates(world_from_camera, box_lo, box_hi), axis_major=True)
        depth = hits.t.reshape(self.height, self.width).astype(np.float32)
        colour = shade(hits, hits.points(origin, dirs_world, axis_major=True), colors, box_lo, box_hi)
        rgb = self._to_uint8(colour.reshape(self.height, self.width, 3), index)
        moving_mask = None
        if self.moving_box is not None:
            moving_mask = (hits.surface == FIRST_BOX_ID + len(layout.boxes)).reshape(self.height, self.width)

        rng = np.random.default_rng([self.seed, index, 7])
        points_lidar, ring = self._scan(world_from_camera, rng, boxes, self.lidar.scan_phase_rad(index))
        sparse = project_to_sparse_depth(transform_points(points_lidar, self.camera_from_lidar), self.intrinsics)
        return SceneFrame(index=index, stamp_ns=int(stamp_ns), rgb=rgb, depth_gt_m=depth, sparse_depth_m=sparse,
                          lidar_points_lidar=points_lidar, lidar_ring=ring, intrinsics=self.intrinsics,
                          camera_pose=world_from_camera, camera_from_lidar=self.camera_from_lidar.copy(),
                          moving_box_mask=moving_mask)

    def _boxes_at(self, index: int) -> tuple[tuple[Box, ...], np.ndarray, np.ndarray, np.ndarray]:
        """The boxes of frame ``index`` (the static ones, then the moving one at i / rate_hz), the surface
        colours (S, 3) float32 and the box corners lo, hi (B, 3) float32 [m]."""
        layout = self.layout
        if self.moving_box is None:
            return layout.boxes, layout.surface_colors, self._box_lo, self._box_hi
        moving = self.moving_box.at(index / self.rate_hz)
        colors = np.concatenate([layout.surface_colors, np.array([moving.color], np.float32)]).astype(np.float32)
        box_lo = np.concatenate([self._box_lo, np.array([moving.lo], np.float32)])
        box_hi = np.concatenate([self._box_hi, np.array([moving.hi], np.float32)])
        return (*layout.boxes, moving), colors, box_lo, box_hi

    def _box_pixel_candidates(self, world_from_camera: np.ndarray, box_lo: np.ndarray, box_hi: np.ndarray
                              ) -> list[np.ndarray]:
        """Per box, flat indices of the pixels inside its projected bounding rectangle.

        The part of a box in front of the near plane z = 1 cm is a convex polytope whose vertices
        are the box corners in front plus the crossings of the box edges with that plane; its image
        lies inside the bounding rectangle of those projected vertices (projection keeps
        convexity), so only those rays can hit the box.
        """
        camera_from_world = np.linalg.inv(world_from_camera)
        k = self.intrinsics
        near = 0.01
        candidates: list[np.ndarray] = []
        for lo, hi in zip(box_lo, box_hi):
            corners = np.stack([np.where(_CORNER_BITS[:, a], hi[a], lo[a]) for a in range(3)], axis=1)
            cam = corners @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
            z = cam[:, 2]
            a, b = cam[_BOX_EDGES[:, 0]], cam[_BOX_EDGES[:, 1]]
            crossing = (z[_BOX_EDGES[:, 0]] - near) * (z[_BOX_EDGES[:, 1]] - near) < 0
            s = (near - a[crossing, 2]) / (b[crossing, 2] - a[crossing, 2])
            vertices = np.concatenate([cam[z >= near], a[crossing] + s[:, None] * (b[crossing] - a[crossing])])
            if vertices.shape[0] == 0:
                candidates.append(np.empty(0, dtype=np.int64))
                continue
            u = k.fx * vertices[:, 0] / vertices[:, 2] + k.cx
            v = k.fy * vertices[:, 1] / vertices[:, 2] + k.cy
            u0, u1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, self.width)
            v0, v1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, self.height)
            if u0 >= u1 or v0 >= v1:
                candidates.append(np.empty(0, dtype=np.int64))
                continue
            candidates.append((np.arange(v0, v1)[:, None] * self.width + np.arange(u0, u1)[None, :]).ravel())
        return candidates

    def _scan(self, world_from_camera: np.ndarray, rng: np.random.Generator, boxes: tuple[Box, ...],
              phase_rad: float) -> tuple[np.ndarray, np.ndarray]:
        """Simulate one LiDAR sweep among ``boxes``, its azimuths offset by ``phase_rad``: (N, 3) float32
        points in the LiDAR frame and (N,) uint16 rings."""
        world_from_lidar = world_from_camera @ self.camera_from_lidar
        rotation = world_from_lidar[:3, :3].astype(np.float32)
        origin = world_from_lidar[:3, 3].astype(np.float32)
        lidar_dirs, lidar_dirs_axis_major = self._lidar_dirs, self._lidar_dirs_axis_major
        if phase_rad != 0.0:   # the sensor's azimuths turned about its z axis
            c, s = math.cos(phase_rad), math.sin(phase_rad)
            spin = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], np.float32)
            lidar_dirs_axis_major = rotate_axis_major(spin, self._lidar_dirs_axis_major)
            lidar_dirs = np.ascontiguousarray(lidar_dirs_axis_major.T)
        hits = cast_rays(origin, rotate_axis_major(rotation, lidar_dirs_axis_major), self.layout.room_min,
                         self.layout.room_max, boxes, axis_major=True)
        cfg = self.lidar
        true_range = hits.t.astype(np.float32, copy=False)
        noise = rng.standard_normal(size=true_range.shape, dtype=np.float32) * cfg.range_noise_std(true_range)
        keep = (true_range >= cfg.min_range_m) & (true_range <= cfg.max_range_m)
        keep &= rng.random(size=true_range.shape, dtype=np.float32) >= cfg.dropout_probability(
            self.lidar_ring_dropout, self._lidar_ring, true_range)
        ranges = true_range[keep] + noise[keep]
        points = lidar_dirs[keep] * ranges[:, None]
        return points.astype(np.float32), self._lidar_ring[keep]

    def _to_uint8(self, colour: np.ndarray, index: int) -> np.ndarray:
        """(H, W, 3) float 0..1 -> uint8 with the frame's slice of the fixed noise field."""
        values = colour * 255.0
        if self._rgb_noise is not None:
            pad = self._noise_pad
            oy = (index * 7) % (2 * pad)
            ox = (index * 13) % (2 * pad)
            values = values + self._rgb_noise[oy:oy + self.height, ox:ox + self.width]
        return np.clip(values + 0.5, 0, 255).astype(np.uint8)

    def surface_ids(self, world_from_camera: np.ndarray, index: int | None = None) -> np.ndarray:
        """(H, W) int16 id of the surface seen at each pixel (0 floor, 1 ceiling, 2-5 walls, 6+ boxes; the
        moving box, at frame ``index``'s time, is the last id; ``index`` None: the static scene only)."""
        rotation = np.asarray(world_from_camera)[:3, :3].astype(np.float32)
        origin = np.asarray(world_from_camera)[:3, 3].astype(np.float32)
        if index is None:
            boxes, box_lo, box_hi = self.layout.boxes, self._box_lo, self._box_hi
        else:
            boxes, _, box_lo, box_hi = self._boxes_at(index)
        hits = cast_rays(origin, rotate_axis_major(rotation, self._rays_optical), self.layout.room_min,
                         self.layout.room_max, boxes,
                         candidates=self._box_pixel_candidates(np.asarray(world_from_camera), box_lo, box_hi),
                         axis_major=True)
        return hits.surface.reshape(self.height, self.width)


__all__ = ["CAMERA_FRAME_ID", "LIDAR_FRAME_ID", "FIRST_BOX_ID", "SceneFrame", "SceneGenerator", "SceneLayout",
           "camera_pose", "default_intrinsics", "rig_pose", "random_layout"]

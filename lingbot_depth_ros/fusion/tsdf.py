"""TSDF fusion of depth frames with known poses into an Open3D tensor ``VoxelBlockGrid`` (no rclpy).

CPU here; ``device="CUDA:0"`` on a robot with the CUDA ``open3d`` wheel. Memory is bounded two ways:
blocks whose centre lies farther than ``max_distance_m`` from the latest camera are dropped, and when
more than ``max_blocks`` blocks are allocated the ones farthest from the camera are dropped first.

With a per-pixel ``confidence`` (0..1, ``depth/confidence``) a frame is integrated by our own code on the
grid's attribute tensors (Open3D's "customized integration": its ``integrate`` takes no per-pixel weight): each
voxel's TSDF becomes the running average weighted by the confidence ``c`` of the pixel it projects to,
``tsdf = (w * tsdf + c * sdf) / (w + c)``, ``w = min(w + c, max_weight)`` (colour likewise), and pixels below
``confidence_min`` (or with confidence 0 / NaN) are not fused at all. Without it, Open3D's own ``integrate``
(weight 1 per frame) runs exactly as before. The weights are then sums of confidences, so
``weight_threshold`` reads "confidence-weighted frames seen".

Example::

    fusion = TsdfFusion(FusionConfig(voxel_size_m=0.04))
    fusion.integrate(depth_m, intrinsics, map_from_camera, rgb=rgb)
    fusion.integrate(depth_m, intrinsics, map_from_camera, confidence=confidence)  # weighted by 0..1
    xyz, rgb = fusion.point_cloud()
    fusion.save_mesh("mesh.ply")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.optional import require

#: Cameras farther than voxel_size_m * this [m] from the map origin are refused: beyond it Open3D's float32
#: voxel coordinates are coarser than about a quarter voxel (0.04 m voxels: 84 km; UTM-scale map frames fail).
MAX_COORDINATE_VOXELS = 2 ** 21
#: Open3D (0.20) allocates blocks only from the pixels at every ALLOCATION_STRIDE-th row and column
#: (``DepthTouch``, rows 0, 4, ...), with 0 < depth < depth_max; a frame with none raises there.
ALLOCATION_STRIDE = 4


class NothingToFuseError(InputError):
    """A depth frame with nothing to fuse: no pixel with depth in [min_depth_m, max_depth_m), or none on the
    pixels Open3D allocates blocks from (see :data:`ALLOCATION_STRIDE`; images under 4x4 pixels)."""


@dataclass(frozen=True)
class FusionConfig:
    """TSDF parameters.

    voxel_size_m: voxel edge [m]. truncation_voxels: TSDF truncation distance in voxels.
    min_depth_m, max_depth_m: depth range integrated [m]. max_weight: per-voxel weight cap (older
    observations fade out after this many frames). weight_threshold: an extracted point / mesh vertex
    needs more than this weight (about: seen in more than this many frames). block_resolution: voxels per
    block edge. max_blocks: blocks kept at most
    (each holds block_resolution^3 voxels of 20 bytes with colour). max_distance_m: blocks farther than
    this from the latest camera are dropped (0 = never). device: Open3D device, "CPU:0" or "CUDA:0".
    confidence_min: with a confidence map, pixels whose confidence is below this (0..1) are not fused.
    """

    voxel_size_m: float = 0.04
    truncation_voxels: float = 4.0
    min_depth_m: float = 0.1
    max_depth_m: float = 6.0
    max_weight: float = 50.0
    weight_threshold: float = 2.0
    block_resolution: int = 8
    max_blocks: int = 40000
    max_distance_m: float = 0.0
    device: str = "CPU:0"
    confidence_min: float = 0.0

    def __post_init__(self) -> None:
        if not self.voxel_size_m > 0:
            raise InputError(f"voxel_size_m must be > 0, got {self.voxel_size_m}")
        if not self.truncation_voxels >= 1:
            raise InputError(f"truncation_voxels must be >= 1, got {self.truncation_voxels}")
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise InputError(f"need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")
        if not self.max_weight >= 1 or not self.weight_threshold >= 0:
            raise InputError(f"need max_weight >= 1 and weight_threshold >= 0, got {self.max_weight}, "
                             f"{self.weight_threshold}")
        if self.block_resolution not in (4, 8, 16):
            raise InputError(f"block_resolution must be 4, 8 or 16, got {self.block_resolution}")
        if self.max_blocks < 16:
            raise InputError(f"max_blocks must be >= 16, got {self.max_blocks}")
        if self.max_distance_m < 0:
            raise InputError(f"max_distance_m must be >= 0 (0 = no radius), got {self.max_distance_m}")
        if not 0.0 <= self.confidence_min <= 1.0:
            raise InputError(f"confidence_min must be within 0..1 (a probability), got {self.confidence_min}")

    @property
    def block_size_m(self) -> float:
        return self.voxel_size_m * self.block_resolution

    @property
    def bytes_per_block(self) -> int:
        return self.block_resolution ** 3 * 4 * 5  # tsdf, weight, rgb float32


@dataclass
class FusionStats:
    """Counters for diagnostics: frames integrated / refused (bad input) / empty (nothing to fuse), blocks
    now, blocks dropped by the bound."""

    frames_integrated: int = 0
    frames_rejected: int = 0
    frames_empty: int = 0
    blocks: int = 0
    blocks_dropped: int = 0

    def memory_mb(self, config: FusionConfig) -> float:
        return self.blocks * config.bytes_per_block / 1e6


class TsdfFusion:
    """Integrates depth frames (with optional colour) at known camera poses into a TSDF volume."""

    _INITIAL_BLOCKS = 1024

    def __init__(self, config: FusionConfig | None = None) -> None:
        require("TSDF fusion", "open3d")
        import open3d as o3d
        import open3d.core as o3c

        self.config = config or FusionConfig()
        self._o3d, self._o3c = o3d, o3c
        try:
            self._device = o3c.Device(self.config.device)
        except RuntimeError as exc:
            raise InputError(f"Open3D device '{self.config.device}': {exc}") from None
        self.stats = FusionStats()
        self._last_camera: np.ndarray | None = None
        self._grid = self._new_grid()
        #: the weighted integration updates the attributes through numpy views (CPU), else by tensor indexing
        self._host_attributes = self._device.get_type() == o3c.Device.DeviceType.CPU

    def _new_grid(self) -> Any:
        o3c = self._o3c
        # Initial capacity; the hash map grows on demand (the bound keeps it near max_blocks).
        return self._o3d.t.geometry.VoxelBlockGrid(
            attr_names=("tsdf", "weight", "color"), attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
            attr_channels=(o3c.SizeVector([1]), o3c.SizeVector([1]), o3c.SizeVector([3])),
            voxel_size=self.config.voxel_size_m, block_resolution=self.config.block_resolution,
            block_count=min(self.config.max_blocks, self._INITIAL_BLOCKS),
            device=self._device)

    def set_confidence_min(self, confidence_min: float) -> None:
        """Change ``config.confidence_min`` (0..1) for the next frames (InputError outside 0..1)."""
        from dataclasses import replace

        self.config = replace(self.config, confidence_min=float(confidence_min))

    def reset(self) -> None:
        """Forget everything fused so far."""
        self._grid = self._new_grid()
        self.stats = FusionStats()
        self._last_camera = None

    # ------------------------------------------------------------------ integration
    def integrate(self, depth_m: np.ndarray, intrinsics: CameraIntrinsics, map_from_camera: np.ndarray,
                  rgb: np.ndarray | None = None, confidence: np.ndarray | None = None) -> None:
        """Fuse one depth frame.

        Args:
            depth_m: (H, W) float32 depth along the optical axis [m]; 0 / NaN / inf = no depth.
            intrinsics: pinhole of the depth image.
            map_from_camera: 4x4 T_map_camera (optical frame, REP 103).
            rgb: optional (H, W, 3) uint8 colour registered to the depth.
            confidence: optional (H, W) float32 confidence 0..1 of each depth pixel (NaN = none): weights each
                voxel update by the confidence of the pixel it projects to; pixels below
                ``config.confidence_min``, at 0 or NaN are not fused. None: Open3D's unweighted integration.

        Raises:
            InputError: shapes that do not match, a confidence outside 0..1, a pose that is not rigid, or a
                camera farther than ``voxel_size_m * MAX_COORDINATE_VOXELS`` from the map origin.
            NothingToFuseError: no pixel to fuse (checked before Open3D, which would raise); counted in
                ``stats.frames_empty``, the volume is unchanged.
        """
        from lingbot_depth_ros.geometry.transforms import RigidTransform

        o3d, o3c, cfg = self._o3d, self._o3c, self.config
        depth = np.asarray(depth_m, dtype=np.float32)
        if depth.ndim != 2 or depth.shape != (intrinsics.height, intrinsics.width):
            self.stats.frames_rejected += 1
            raise InputError(f"depth {depth.shape} does not match the intrinsics "
                             f"{intrinsics.height}x{intrinsics.width}")
        if rgb is not None and (rgb.shape[:2] != depth.shape or rgb.ndim != 3 or rgb.shape[2] != 3):
            self.stats.frames_rejected += 1
            raise InputError(f"rgb {rgb.shape} does not match depth {depth.shape}")
        weights = self._check_confidence(confidence, depth.shape) if confidence is not None else None
        try:
            pose = RigidTransform.from_matrix(map_from_camera).matrix()
        except InputError:
            self.stats.frames_rejected += 1
            raise
        limit_m = cfg.voxel_size_m * MAX_COORDINATE_VOXELS
        if not np.abs(pose[:3, 3]).max() <= limit_m:
            self.stats.frames_rejected += 1
            raise InputError(f"camera at {np.array2string(pose[:3, 3], precision=4)} m is more than {limit_m:.3g} m "
                             f"from the map origin, where Open3D's float32 coordinates are coarser than a quarter "
                             f"voxel: fuse in a local map frame")
        with np.errstate(invalid="ignore"):
            depth = np.where(np.isfinite(depth) & (depth >= cfg.min_depth_m), depth, 0.0).astype(np.float32)
        if weights is not None:
            in_range = int(np.count_nonzero(depth))
            depth = np.where(weights > 0, depth, 0.0).astype(np.float32)
            if in_range and not np.any(depth):
                self.stats.frames_empty += 1
                raise NothingToFuseError(f"nothing to fuse: all {in_range} pixel(s) with depth have a confidence "
                                         f"below confidence_min {cfg.confidence_min:g} (or 0)")
        self._check_something_to_fuse(depth)
        colour = (np.asarray(rgb, dtype=np.float32) / 255.0 if rgb is not None
                  else np.full(depth.shape + (3,), 0.7, dtype=np.float32))
        k = intrinsics
        intrinsic = o3c.Tensor(np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]]), o3c.float64)
        extrinsic = o3c.Tensor(np.linalg.inv(pose), o3c.float64)  # camera <- map
        depth_t = o3d.t.geometry.Image(o3c.Tensor(depth)).to(self._device)
        colour_t = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(colour))).to(self._device)
        blocks = self._grid.compute_unique_block_coordinates(depth_t, intrinsic, extrinsic, 1.0, float(cfg.max_depth_m),
                                                             float(cfg.truncation_voxels))
        self._activate_empty(blocks)
        if weights is None:
            self._grid.integrate(blocks, depth_t, colour_t, intrinsic, intrinsic, extrinsic, 1.0,
                                 float(cfg.max_depth_m), float(cfg.truncation_voxels))
            self._cap_weight()
        else:
            self._integrate_weighted(blocks, depth, colour, weights, intrinsics, np.linalg.inv(pose))
        self._last_camera = pose[:3, 3].copy()
        self.stats.frames_integrated += 1
        self._bound_memory()

    def _check_confidence(self, confidence: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """(H, W) float32 voxel-update weights of a confidence map: the confidence, 0 where it is NaN or below
        ``config.confidence_min`` (InputError: another shape, or a finite value outside 0..1)."""
        conf = np.asarray(confidence, dtype=np.float32)
        if conf.shape != shape:
            self.stats.frames_rejected += 1
            raise InputError(f"confidence {conf.shape} does not match depth {shape}")
        finite = np.isfinite(conf)
        if np.any(finite & ((conf < 0.0) | (conf > 1.0))):
            self.stats.frames_rejected += 1
            raise InputError(f"confidence must be within 0..1 (NaN = none), got values in "
                             f"[{float(np.nanmin(conf)):g}, {float(np.nanmax(conf)):g}]")
        with np.errstate(invalid="ignore"):
            keep = finite & (conf >= self.config.confidence_min) & (conf > 0.0)
        return np.where(keep, conf, 0.0).astype(np.float32)

    def _activate_empty(self, blocks: Any) -> None:
        """Allocate the blocks of ``blocks`` not allocated yet, with tsdf, weight and colour 0: Open3D's hash map
        hands out the memory of blocks dropped by the memory bound (:meth:`_bound_memory`) again without clearing
        it, and its ``integrate`` would then average into the old block's values (on a fresh grid the memory is
        zero anyway: the result is Open3D's own)."""
        o3c = self._o3c
        new_indices, new = self._grid.hashmap().activate(blocks)
        if not new.any():
            return
        reused = new_indices[new].to(o3c.int64)
        for name in ("tsdf", "weight", "color"):
            self._grid.attribute(name)[reused] = 0.0

    def _integrate_weighted(self, blocks: Any, depth_m: np.ndarray, colour: np.ndarray, weights: np.ndarray,
                            intrinsics: CameraIntrinsics, camera_from_map: np.ndarray) -> None:
        """Confidence-weighted TSDF update of the voxels of ``blocks`` (Open3D's customized integration on the
        grid's attribute tensors; module docstring). (H, W) float32 ``depth_m`` [m] (0 = none, already gated),
        (H, W, 3) float32 ``colour`` 0..1 (stored x 255, as Open3D does), (H, W) float32 ``weights`` 0..1
        (0 = not fused), 4x4 ``camera_from_map``. Each voxel takes the pixel its corner projects to, truncated to
        integers, as Open3D's own kernel does (all weights 1 give Open3D's result within float rounding)."""
        o3c, cfg, device = self._o3c, self.config, self._device
        buf_indices, _ = self._grid.hashmap().find(blocks)  # all active (_activate_empty)
        voxel_xyz_t, voxel_index_t = self._grid.voxel_coordinates_and_flattened_indices(buf_indices.to(o3c.int32))
        # The association and the new values are computed with numpy on the host (faster than Open3D's tensor
        # indexing); on a CPU device numpy updates the attribute tensors in place, on another only the updated
        # voxels go back to the grid's device.
        voxel_xyz = voxel_xyz_t.cpu().numpy()
        voxel_index = voxel_index_t.cpu().numpy()
        r, t = camera_from_map[:3, :3].astype(np.float32), camera_from_map[:3, 3].astype(np.float32)
        x_w, y_w, z_w = voxel_xyz[:, 0], voxel_xyz[:, 1], voxel_xyz[:, 2]
        x, y, z = (r[i, 0] * x_w + r[i, 1] * y_w + r[i, 2] * z_w + t[i] for i in range(3))  # camera frame [m]
        in_front = z > 1e-6
        with np.errstate(divide="ignore", invalid="ignore"):
            u_f = x / z * np.float32(intrinsics.fx) + np.float32(intrinsics.cx)
            v_f = y / z * np.float32(intrinsics.fy) + np.float32(intrinsics.cy)
        height, width = depth_m.shape
        # as Open3D's kernel: inside when 0 <= u <= W - 1 (float), the pixel is the truncated coordinate
        seen = in_front & (u_f >= 0) & (v_f >= 0) & (u_f <= width - 1) & (v_f <= height - 1)
        pixel = v_f[seen].astype(np.int64) * width + u_f[seen].astype(np.int64)
        z, voxel_index = z[seen], voxel_index[seen]
        depth = depth_m.reshape(-1)[pixel]
        conf = weights.reshape(-1)[pixel]
        trunc_m = np.float32(cfg.truncation_voxels * cfg.voxel_size_m)
        sdf = depth - z
        fused = (depth > 0) & (depth < cfg.max_depth_m) & (sdf >= -trunc_m) & (conf > 0)
        index = voxel_index[fused]
        c = conf[fused][:, None]
        sdf = (np.minimum(sdf[fused], trunc_m) / trunc_m)[:, None]
        rgb = colour.reshape(-1, 3)[pixel[fused]] * np.float32(255.0)  # stored 0..255, as Open3D does
        if self._host_attributes:  # numpy views of the attribute tensors' memory
            tsdf_np, weight_np, colour_np = (self._grid.attribute(name).numpy().reshape(-1, channels)
                                             for name, channels in (("tsdf", 1), ("weight", 1), ("color", 3)))
            w_old = weight_np[index]
            w_sum = w_old + c
            tsdf_np[index] = (tsdf_np[index] * w_old + sdf * c) / w_sum
            colour_np[index] = (colour_np[index] * w_old + rgb * c) / w_sum
            weight_np[index] = np.minimum(w_sum, np.float32(cfg.max_weight))
            return
        index_t = o3c.Tensor(index.astype(np.int64), o3c.int64, device)
        tsdf_all = self._grid.attribute("tsdf").reshape((-1, 1))
        weight_all = self._grid.attribute("weight").reshape((-1, 1))
        colour_all = self._grid.attribute("color").reshape((-1, 3))
        w_old = weight_all[index_t].cpu().numpy()
        w_sum = w_old + c
        tsdf_new = (tsdf_all[index_t].cpu().numpy() * w_old + sdf * c) / w_sum
        colour_new = (colour_all[index_t].cpu().numpy() * w_old + rgb * c) / w_sum
        tsdf_all[index_t] = o3c.Tensor(tsdf_new.astype(np.float32), o3c.float32, device)
        colour_all[index_t] = o3c.Tensor(colour_new.astype(np.float32), o3c.float32, device)
        weight_all[index_t] = o3c.Tensor(np.minimum(w_sum, cfg.max_weight).astype(np.float32), o3c.float32, device)

    def _check_something_to_fuse(self, depth_m: np.ndarray) -> None:
        """Raise NothingToFuseError unless a pixel of the (H, W) ``depth_m`` [m] (0 = none, already masked
        below ``min_depth_m``) lets Open3D allocate a block (Open3D's own check only raises a RuntimeError)."""
        max_depth, stride = self.config.max_depth_m, ALLOCATION_STRIDE
        height, width = depth_m.shape
        grid = depth_m[:height - height % stride:stride, :width - width % stride:stride]
        if np.any((grid > 0) & (grid < max_depth)):
            return
        self.stats.frames_empty += 1
        usable = int(np.count_nonzero((depth_m > 0) & (depth_m < max_depth)))
        if usable == 0:
            raise NothingToFuseError(f"nothing to fuse: no pixel of the {width}x{height} depth image is in "
                                     f"[{self.config.min_depth_m:g}, {max_depth:g}) m")
        raise NothingToFuseError(f"nothing to fuse: {usable} pixel(s) of the {width}x{height} depth image in range, "
                                 f"none on the every-{stride}th-pixel grid Open3D allocates blocks from")

    def _cap_weight(self) -> None:
        """Clamp the weights of the allocated blocks to ``max_weight`` (the running average then keeps
        following the surface instead of freezing after many frames)."""
        grid = self._grid
        active = grid.hashmap().active_buf_indices().to(self._o3c.int64)
        weight = grid.attribute("weight").reshape((grid.hashmap().capacity(), -1))
        block_weights = weight[active]
        block_weights.clip_(0.0, float(self.config.max_weight))
        weight[active] = block_weights

    def _block_keys(self) -> np.ndarray:
        hashmap = self._grid.hashmap()
        active = hashmap.active_buf_indices().to(self._o3c.int64)
        return hashmap.key_tensor()[active].cpu().numpy().reshape(-1, 3)

    def _bound_memory(self) -> None:
        """Drop blocks beyond ``max_distance_m`` of the camera, then the farthest beyond ``max_blocks``."""
        cfg = self.config
        keys = self._block_keys()
        if self._last_camera is None or keys.shape[0] == 0:
            self.stats.blocks = int(keys.shape[0])
            return
        centres = (keys.astype(np.float64) + 0.5) * cfg.block_size_m
        distance = np.linalg.norm(centres - self._last_camera, axis=1)
        drop = distance > cfg.max_distance_m if cfg.max_distance_m > 0 else np.zeros(len(keys), dtype=bool)
        kept = int((~drop).sum())
        if kept > cfg.max_blocks:
            order = np.argsort(np.where(drop, np.inf, distance))  # nearest first
            drop[order[cfg.max_blocks:]] = True
        if drop.any():
            self._grid.hashmap().erase(self._o3c.Tensor(keys[drop].astype(np.int32), self._o3c.int32, self._device))
            self.stats.blocks_dropped += int(drop.sum())
        self.stats.blocks = int(len(keys) - drop.sum())

    # ------------------------------------------------------------------ extraction
    def point_cloud(self, downsample_m: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Fused surface points: (N, 3) float32 xyz [m] in the map frame and (N, 3) uint8 RGB; with
        ``downsample_m`` > 0 one point per cube of that edge (Open3D voxel downsampling)."""
        if self.stats.blocks == 0:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
        cloud = self._grid.extract_point_cloud(self.config.weight_threshold)
        if downsample_m > 0 and cloud.point.positions.shape[0] > 0:
            cloud = cloud.voxel_down_sample(downsample_m)
        xyz = cloud.point.positions.cpu().numpy().astype(np.float32).reshape(-1, 3)
        if "colors" in cloud.point:
            rgb = np.clip(cloud.point.colors.cpu().numpy() * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(-1, 3)
        else:
            rgb = np.full(xyz.shape, 178, np.uint8)
        return xyz, rgb

    def mesh(self) -> Any:
        """The fused surface as an Open3D tensor TriangleMesh (marching cubes)."""
        return self._grid.extract_triangle_mesh(self.config.weight_threshold)

    def save_mesh(self, path: str | Path) -> tuple[Path, int]:
        """Write the mesh to a PLY; returns the path and its triangle count."""
        path = Path(path)
        mesh = self.mesh() if self.stats.blocks else self._o3d.t.geometry.TriangleMesh()
        legacy = mesh.to_legacy()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self._o3d.io.write_triangle_mesh(path, legacy):
            raise InputError(f"could not write mesh {path}")
        return path, len(legacy.triangles)

    def diagnostics(self) -> dict[str, str]:
        """Key/values for a DiagnosticStatus: the memory bound and how full it is."""
        cfg, s = self.config, self.stats
        return {"frames_integrated": str(s.frames_integrated), "frames_rejected": str(s.frames_rejected),
                "frames_empty": str(s.frames_empty),
                "blocks": str(s.blocks), "max_blocks": str(cfg.max_blocks),
                "max_distance_m": f"{cfg.max_distance_m:g}", "blocks_dropped": str(s.blocks_dropped),
                "memory_mb": f"{s.memory_mb(cfg):.1f}",
                "memory_bound_mb": f"{cfg.max_blocks * cfg.bytes_per_block / 1e6:.1f}",
                "voxel_size_m": f"{cfg.voxel_size_m:g}", "device": cfg.device}


__all__ = ["ALLOCATION_STRIDE", "MAX_COORDINATE_VOXELS", "FusionConfig", "FusionStats", "NothingToFuseError",
           "TsdfFusion"]

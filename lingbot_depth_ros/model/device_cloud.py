"""The published depth and its cloud xyz on the model's device (torch), so only those come to the host.

Same result as the host path: :func:`lingbot_depth_ros.pipeline.depth_pipeline.finalize_depth` followed by
:func:`lingbot_depth_ros.geometry.pointcloud.depth_to_cloud_points` (the same float32 operations in
the same order: pixel centres at integer coordinates, x = (u - cx) / fx * z, range = z * |ray|,
NaN for every dropped point), on any torch device (CPU tests run it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CloudRequest:
    """What the published depth and cloud of a frame are (mirrors the node's depth.* and cloud.* values).

    ``depth_min_m``/``depth_max_m`` [m]: the published depth's limits (NaN outside). ``stride``: pixel
    decimation of the cloud. ``min_range_m``/``max_range_m`` [m]: limits on the distance from the optical
    centre. ``organized``: keep the (h, w) grid with NaN points, else only valid points. ``colours``: the
    cloud carries the image's colours (unorganized: the kept-point mask is downloaded to pick them).
    """

    depth_min_m: float = 0.0
    depth_max_m: float = 100.0
    stride: int = 1
    min_range_m: float = 0.0
    max_range_m: float = float("inf")
    organized: bool = True
    colours: bool = False


def published_depth(depth_m: torch.Tensor, valid: torch.Tensor, min_m: float, max_m: float) -> torch.Tensor:
    """(B, H, W) float32 [m], NaN where not ``valid``, not finite or outside (max(min_m, 0), max_m]."""
    depth = depth_m.float()
    keep = valid & (depth > max(min_m, 0.0)) & (depth <= max_m)  # NaN fails both; +inf fails the upper bound
    return torch.where(keep, depth, torch.full_like(depth, float("nan")))


def _rays(k: torch.Tensor, h: int, w: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, w') x/z per sampled column and (B, h', 1) y/z per sampled row, float32."""
    k = k.to(torch.float32)
    u = torch.arange(0, w, stride, device=k.device, dtype=torch.float32)
    v = torch.arange(0, h, stride, device=k.device, dtype=torch.float32)
    xr = (u[None, :] - k[:, 0, 2, None]) / k[:, 0, 0, None]
    yr = (v[None, :] - k[:, 1, 2, None]) / k[:, 1, 1, None]
    return xr[:, None, :], yr[:, :, None]


def cloud_xyz(depth_m: torch.Tensor, k: torch.Tensor, request: CloudRequest) -> tuple[torch.Tensor, torch.Tensor]:
    """Back-project published depth to the cloud of ``request``.

    Args:
        depth_m: (B, H, W) float32 [m], NaN (or <= 0, inf) where invalid.
        k: (B, 3, 3) pixel camera matrices (on the same device).
        request: stride and range limits.

    Returns:
        ``xyz`` (B, h, w, 3) float32 [m] in the optical frame (h = ceil(H/stride)), all three NaN for every
        invalid or range-rejected point, and ``keep`` (B, h, w) bool (the points that are not NaN).
    """
    s = request.stride
    z = depth_m[:, ::s, ::s].float()
    z = torch.where(torch.isfinite(z) & (z > 0), z, torch.full_like(z, float("nan")))
    xr, yr = _rays(k.to(depth_m.device), depth_m.shape[1], depth_m.shape[2], s)
    xyz = torch.stack([z * xr, z * yr, z], dim=-1)
    if request.min_range_m > 0 or request.max_range_m != float("inf"):
        norm = torch.sqrt(1.0 + xr ** 2 + yr ** 2)  # (B, h, w) |(x/z, y/z, 1)|, as the host path
        range_m = z * norm
        reject = (range_m < request.min_range_m) | (range_m > request.max_range_m)
        xyz = torch.where(reject[..., None], torch.full_like(xyz, float("nan")), xyz)
    return xyz, ~torch.isnan(xyz[..., 2])

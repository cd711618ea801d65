"""The temporal filter on a torch device (the estimator's, e.g. ``cuda:0``): same semantics and API as
:class:`~lingbot_depth_ros.pipeline.temporal_filter.TemporalFilter` (numpy in, numpy out), the history kept as
torch tensors on the device, so a GPU estimator's depth is filtered where it is.

The same steps as the numpy/OpenCV filter, as tensor operations: the inverse warp samples the history with
``torch.nn.functional.grid_sample`` (bilinear, ``align_corners=True`` with pixel centres at integer coordinates as
``cv2.remap``: x_norm = 2 u / (W - 1) - 1; zeros outside the image as ``cv2.BORDER_CONSTANT``), the occlusion
check's forward z-buffer is a ``scatter_reduce(amin)`` of the same packed (depth, source) int64 keys (the nearest
depth wins, a tie goes to the last source), the 3x3 erosion a max-pool of the negated splat. Every history pixel is
splatted (the numpy filter splats only those landing near a hole: the same z-buffer where it is looked at).
With ``confirm_frames`` 2 and a moving camera, the held pixels of the last frame and the nearest history around
each sample point are read from the four bilinear neighbours' cell by an index gather (the numpy filter: cv2.remap
at the same integer cell coordinates).
Results equal the numpy filter's within float rounding (test/test_temporal_filter_torch.py, on CPU torch; where
OpenCV < 5 quantises remap's bilinear weights to 1/32 px the two differ by that much more). Input checks, pose
checks and reset reasons are the numpy filter's own code. Import this module only where torch is wanted
(:func:`~lingbot_depth_ros.pipeline.temporal_filter_factory.make_temporal_filter` does it lazily).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.temporal_filter import (
    FULL_SUPPORT,
    LAST_SOURCE,
    NO_SPLAT_KEY,
    OUTSIDE_PX,
    TemporalFilter,
    TemporalResult,
    TemporalSettings,
    is_static,
    projection_rows,
    ray_axes,
)


class TorchTemporalFilter(TemporalFilter):
    """:class:`TemporalFilter` with its history on ``device`` (any torch device: ``'cpu'``, ``'cuda'``,
    ``'cuda:1'``). ``update`` / ``update_at_pose`` take and return numpy arrays as the numpy filter's.

    Raises:
        ConfigError: ``device`` is not a torch device this machine can use (no CUDA, no such index).
    """

    def __init__(self, settings: TemporalSettings | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__(settings)
        try:
            self.device = torch.device(device)
            torch.empty(0, device=self.device)   # a device this torch build cannot use fails here, not mid-stream
        except (RuntimeError, AssertionError) as exc:   # no CUDA build / no such device
            raise ConfigError(f"temporal filter: torch device {str(device)!r} is not usable here: "
                              f"{str(exc).splitlines()[0]}") from exc
        self._axes_t: tuple[CameraIntrinsics, torch.Tensor, torch.Tensor] | None = None

    # the history (self._depth, self._weight, self._confidence, self._held) holds tensors here
    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        """A copy of ``array`` on the device (the numpy side's work arrays are reused next frame; the caller's
        arrays may be read-only)."""
        return torch.tensor(array, device=self.device)

    def _start(self, depth: np.ndarray, conf: np.ndarray, confidence_given: bool, intrinsics: CameraIntrinsics,
               stamp_s: float | None, reason: str | None) -> TemporalResult:
        result = super()._start(depth, conf, confidence_given, intrinsics, stamp_s, reason)
        assert self._depth is not None and self._weight is not None and self._confidence is not None
        self._depth, self._weight, self._confidence = (self._tensor(self._depth), self._tensor(self._weight),
                                                       self._tensor(self._confidence))
        return result

    def _filtered(self, depth_np: np.ndarray, conf_np: np.ndarray, valid_np: np.ndarray,
                  prev_to_curr: np.ndarray | None, intrinsics: CameraIntrinsics, stamp_s: float | None,
                  confidence_given: bool) -> TemporalResult:
        hist_depth, hist_weight, hist_conf = self._depth, self._weight, self._confidence
        assert isinstance(hist_depth, torch.Tensor) and isinstance(hist_weight, torch.Tensor)
        assert isinstance(hist_conf, torch.Tensor)
        s = self.settings
        depth, conf = self._tensor(depth_np), self._tensor(conf_np)
        valid = conf > 0
        held_before = None if s.confirm_frames == 1 else (
            self._held if self._held is not None else torch.zeros_like(valid))
        assert held_before is None or isinstance(held_before, torch.Tensor)
        nearest_hist = None   # moving, confirm_frames 2: the nearest warped history around each pixel [m]
        if is_static(prev_to_curr):
            warped, w_hist, conf_hist = hist_depth, hist_weight, hist_conf
            consistent = warped > 0
        else:
            assert prev_to_curr is not None
            warped, w_hist, conf_hist, consistent, confirm_state = self._warp_t(
                depth, valid, np.asarray(prev_to_curr, np.float64), intrinsics, held_before)
            if confirm_state is not None:
                held_before, nearest_hist = confirm_state
        tolerance = depth * s.reset_rel
        close = (warped - depth).abs() <= tolerance
        compared = valid & consistent
        agree, disagree = compared & close, compared & ~close
        hold: torch.Tensor | None = None
        if s.confirm_frames > 1:   # hold the history where this is the first frame to disagree: one frame at most
            hold = disagree if held_before is None else disagree & ~held_before
            if nearest_hist is not None:   # moving: held only where in front of all four history pixels around
                hold = hold & ((nearest_hist - depth) > tolerance)
            self._held = hold
            valid, consistent, disagree = valid & ~hold, consistent | hold, disagree & ~hold
        else:
            self._held = None
        w_hist = torch.clamp(w_hist, max=s.max_history_weight)
        total = w_hist + conf
        blended = (w_hist * warped + conf * depth) / total
        w_fill = w_hist * s.hole_decay
        fill = consistent & ~valid & (w_fill >= s.min_hole_weight)
        if hold is not None:
            w_fill = torch.where(hold, w_hist, w_fill)
            fill = fill | hold
        nan, zero = torch.tensor(float("nan"), device=self.device), torch.tensor(0.0, device=self.device)
        out = torch.where(agree, blended, torch.where(valid, depth, torch.where(fill, warped, nan)))
        weight = torch.where(agree, total, torch.where(valid, conf, torch.where(fill, w_fill, zero)))
        out_conf = torch.where(agree, torch.maximum(conf, conf_hist),
                               torch.where(valid, conf, torch.where(fill, conf_hist, nan)))
        self._depth, self._weight, self._confidence, self._stamp_s = out, weight, out_conf, stamp_s
        counts = torch.stack([disagree.sum(), agree.sum(), fill.sum()]).tolist()
        return TemporalResult(out.cpu().numpy(), weight.cpu().numpy(), None, int(counts[0]), int(counts[1]),
                              int(counts[2]), out_conf.cpu().numpy().copy() if confidence_given else None)

    # ------------------------------------------------------------------ warp
    def _project_t(self, depth: torch.Tensor, rotation: np.ndarray, translation_m: np.ndarray, k: CameraIntrinsics
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`TemporalFilter._project` (the same float32 operations): (u', v', z' [m]), (H, W)."""
        if self._axes_t is None or self._axes_t[0] != k:
            xs, ys = ray_axes(k)
            self._axes_t = (k, torch.from_numpy(xs).to(self.device), torch.from_numpy(ys).to(self.device))
        xs_t, ys_t = self._axes_t[1], self._axes_t[2]
        rows, offsets = projection_rows(rotation, translation_m, k)
        moved = []
        for row, offset in zip(rows, offsets, strict=True):
            field = (ys_t * float(row[1]) + float(row[2])).float()[:, None] + (xs_t * float(row[0])).float()[None, :]
            moved.append(field * depth + np.float32(offset).item())
        u_moved, v_moved, z_moved = moved
        return u_moved / z_moved, v_moved / z_moved, z_moved

    def _sample(self, stacked: torch.Tensor, map_u: torch.Tensor, map_v: torch.Tensor) -> torch.Tensor:
        """(C, H, W) ``stacked`` sampled bilinearly at (map_u, map_v) [px, pixel centres at integers] as
        ``cv2.remap(..., INTER_LINEAR, BORDER_CONSTANT, 0)``: (C, H, W)."""
        height, width = stacked.shape[-2:]
        grid = torch.stack([map_u * (2.0 / (width - 1)) - 1.0, map_v * (2.0 / (height - 1)) - 1.0], dim=-1)
        return F.grid_sample(stacked[None], grid[None], mode="bilinear", padding_mode="zeros",
                             align_corners=True)[0]

    def _warp_t(self, depth: torch.Tensor, valid: torch.Tensor, prev_to_curr: np.ndarray, k: CameraIntrinsics,
                held: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                           tuple[torch.Tensor, torch.Tensor] | None]:
        """As :meth:`TemporalFilter._warp`: (warped depth [m], weight, confidence, consistent, (held last frame,
        nearest history around [m]) or None)."""
        hist_depth, hist_weight, hist_conf = self._depth, self._weight, self._confidence
        assert isinstance(hist_depth, torch.Tensor) and isinstance(hist_weight, torch.Tensor)
        assert isinstance(hist_conf, torch.Tensor)
        hist = torch.nan_to_num(hist_depth, nan=0.0)   # 0 where there is none
        channels = [hist, (hist > 0).float(), hist_weight, torch.nan_to_num(hist_conf, nan=0.0)]
        guess = torch.where(valid, depth, hist)
        curr_to_prev = np.linalg.inv(prev_to_curr)
        map_u, map_v, z_prev = self._project_t(guess, curr_to_prev[:3, :3], curr_to_prev[:3, 3], k)
        behind_camera = (z_prev <= 0) & (guess > 0)
        map_u = torch.where(behind_camera, OUTSIDE_PX, map_u)
        map_v = torch.where(behind_camera, OUTSIDE_PX, map_v)
        sampled_all = self._sample(torch.stack(channels), map_u, map_v)
        sampled, support, w_warped, conf_warped = sampled_all[0], sampled_all[1], sampled_all[2], sampled_all[3]
        r_back, t_back = prev_to_curr[2, :3], np.float32(prev_to_curr[2, 3]).item()
        along = (map_u * np.float32(r_back[0] / k.fx).item() + map_v * np.float32(r_back[1] / k.fy).item()
                 + np.float32(r_back[2] - r_back[0] * k.cx / k.fx - r_back[1] * k.cy / k.fy).item())
        warped = sampled * along + t_back
        confirm_state = None
        if held is not None:
            nearest = self._nearest_of_four_t(hist, map_u, map_v) * along + t_back
            confirm_state = (self._held_near_t(held, map_u, map_v), nearest)
        consistent = (support > FULL_SUPPORT) & (warped > 0)
        if not bool(valid.all()):
            rel = np.float32(self.settings.reset_rel * 0.5).item()
            consistent = consistent & (valid | ((warped - guess).abs() <= guess * rel))
            warped, w_warped, conf_warped, consistent = self._occlusion_checked_t(
                valid, prev_to_curr, k, hist, warped, w_warped, conf_warped, consistent)
        return warped, w_warped, conf_warped, consistent, confirm_state

    @staticmethod
    def _at_cells_t(of_four: torch.Tensor, map_u: torch.Tensor, map_v: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """As :func:`~lingbot_depth_ros.pipeline.temporal_filter._at_cells`: (values, inside), (H, W)."""
        height, width = of_four.shape[0] - 1, of_four.shape[1] - 1
        col, row = torch.floor(map_u) + 1, torch.floor(map_v) + 1
        inside = (col >= 0) & (col <= width) & (row >= 0) & (row <= height)
        index = torch.where(inside, row * (width + 1) + col, torch.zeros_like(col)).long()
        return of_four.reshape(-1)[index.reshape(-1)].reshape(map_u.shape), inside

    def _held_near_t(self, held: torch.Tensor, map_u: torch.Tensor, map_v: torch.Tensor) -> torch.Tensor:
        """As :func:`~lingbot_depth_ros.pipeline.temporal_filter.held_near`: (H, W) bool, a pixel of ``held``
        among the four bilinear neighbours of each sample point (``map_u``, ``map_v``) [px]."""
        padded = F.pad(held, (1, 1, 1, 1))
        found, inside = self._at_cells_t(padded[:-1, :-1] | padded[1:, :-1] | padded[:-1, 1:] | padded[1:, 1:],
                                         map_u, map_v)
        return found & inside

    def _nearest_of_four_t(self, hist: torch.Tensor, map_u: torch.Tensor, map_v: torch.Tensor) -> torch.Tensor:
        """As :func:`~lingbot_depth_ros.pipeline.temporal_filter.nearest_of_four`: (H, W) [m], the smallest of
        ``hist`` (0 = none) at the four bilinear neighbours of each sample point."""
        padded = F.pad(hist, (1, 1, 1, 1))
        nearest = torch.minimum(torch.minimum(padded[:-1, :-1], padded[1:, :-1]),
                                torch.minimum(padded[:-1, 1:], padded[1:, 1:]))
        return self._at_cells_t(nearest, map_u, map_v)[0]

    def _occlusion_checked_t(self, valid: torch.Tensor, prev_to_curr: np.ndarray, k: CameraIntrinsics,
                             hist: torch.Tensor, warped: torch.Tensor, w_warped: torch.Tensor,
                             conf_warped: torch.Tensor, consistent: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`TemporalFilter._occlusion_check` (``hist``: the history's depth, 0 where none)."""
        assert isinstance(self._weight, torch.Tensor) and isinstance(self._confidence, torch.Tensor)
        holes = ~valid
        height, width = holes.shape
        u_moved, v_moved, z_moved = self._project_t(hist, prev_to_curr[:3, :3], prev_to_curr[:3, 3], k)
        u_px, v_px = torch.round(u_moved), torch.round(v_moved)   # half to even, as np.rint
        lands = ((z_moved > 1e-3) & (hist > 0) & (u_px >= 0) & (u_px <= width - 1) & (v_px >= 0)
                 & (v_px <= height - 1))   # NaN compares False
        target = torch.where(lands, v_px * width + u_px, torch.zeros_like(u_px)).long().reshape(-1)
        sources = torch.arange(height * width, device=self.device, dtype=torch.int64)
        keys = (z_moved.reshape(-1).contiguous().view(torch.int32).long() << 32) | (LAST_SOURCE - sources)
        keys = torch.where(lands.reshape(-1), keys, torch.full_like(keys, NO_SPLAT_KEY))
        zbuffer = torch.full((height * width,), NO_SPLAT_KEY, dtype=torch.int64, device=self.device)
        zbuffer = zbuffer.scatter_reduce(0, target, keys, reduce="amin", include_self=True)
        splat = (zbuffer >> 32).to(torch.int32).view(torch.float32).reshape(height, width)   # inf where none
        nearest_surface = -F.max_pool2d(-splat[None, None], 3, stride=1, padding=1)[0, 0]
        behind_limit = nearest_surface * np.float32(1 + self.settings.reset_rel).item()
        behind = holes & consistent & (warped > behind_limit)
        consistent = consistent & ~behind
        take_splat = holes & ~consistent & (splat < float("inf")) & (splat <= behind_limit)   # not through a crack
        winner = torch.where(take_splat.reshape(-1), LAST_SOURCE - (zbuffer & 0xFFFFFFFF), 0)
        warped = torch.where(take_splat, splat, warped)
        w_warped = torch.where(take_splat, self._weight.reshape(-1)[winner].reshape(height, width), w_warped)
        conf_warped = torch.where(take_splat, self._confidence.reshape(-1)[winner].reshape(height, width),
                                  conf_warped)
        return warped, w_warped, conf_warped, consistent | take_splat

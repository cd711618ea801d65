"""Ego-motion-compensated temporal filtering of depth (ROS-free, numpy/OpenCV): depth that holds still.

Per-frame depth flickers (LiDAR returns drop out, scan lines land on other pixels, learned models jitter).
:class:`TemporalFilter` keeps the previous output depth [m] and its per-pixel weight and, for each new frame:

1. **Warps the history into the current frame** with the camera motion ``prev_to_curr`` (4x4 rigid transform,
   ``p_curr = R p_prev + t`` in optical-frame metres; None = static camera). The warp is computed by inverse
   sampling: each current pixel is back-projected at its current depth (where the current frame has none, at the
   history's depth there), moved into the previous frame, and the previous depth is sampled there
   (bilinear, only where all four neighbours are valid) and moved back; for the pixels the current frame measures
   this equals forward warping the history, at the cost of one ``cv2.remap``. Where the current frame has no
   depth (holes), the history's depth at the pixel is the guess, kept when self-consistent and not behind the
   history forward-splatted into the current frame (z-buffer), else replaced by that splat (nearest pixel).
2. **Blends per pixel** where warped history and current depth agree (``|warped - current| <= reset_rel *
   current``): ``(w_hist * warped + c * current) / (w_hist + c)`` with ``c`` the current confidence (1 without
   one) and the history's weight capped at ``max_history_weight`` (so the filter follows slow changes).
3. **Resets a pixel** where they disagree (a moving object, a disocclusion, a wrong pose): the output is the
   current depth and the history there starts again with weight ``c``; nothing trails.
4. **Holes** (no current depth): the warped history is kept when it is self-consistent, with its weight
   multiplied by ``hole_decay`` each frame, until it falls below ``min_hole_weight`` (an old value fades out).
5. **Confidence** travels with the depth: the history's confidence is warped with the same maps, and the output's
   (:attr:`TemporalResult.confidence`) is the current one where the output is the current value, the larger of
   current and history where blended, and the history's where filled from history.

Cost (bench/bench_temporal_cost.py): the per-pixel arithmetic runs on reused work arrays (``_WorkArrays``: 42
full-frame arrays, 45 MB at 640x480 with holes; fresh arrays each frame cost page faults that at this size outweigh the
arithmetic), ``np.where`` chains are masked ``cv2.copyTo`` copies, the projection fields are separable in u and v
(one broadcast add each), and the occlusion check's z-buffer (packed (depth, source) int64 keys, ``np.minimum.at``)
splats only the history pixels that land within one pixel of a hole, the only pixels it is looked at.

Bad input resets the whole history and says why (:attr:`TemporalResult.reset_reason`): the output is then the
current frame unchanged, never a crash or a smeared frame. Reasons: :data:`POSE_MISSING` (``pose_required`` and no
motion), :data:`POSE_NOT_FINITE`, :data:`POSE_NOT_RIGID` (rotation not orthonormal / last row not 0 0 0 1),
:data:`NON_UNIT_QUATERNION` (:meth:`TemporalFilter.update_at_pose`), :data:`TIME_BACKWARDS`,
:data:`TIME_GAP` (more than ``max_gap_s`` since the last frame), :data:`SIZE_CHANGED`,
:data:`INTRINSICS_CHANGED`, :data:`JUMP` (translation above ``max_jump_m``). A malformed depth or confidence array
(not 2-D, shapes that differ from the intrinsics) raises :class:`~lingbot_depth_ros.errors.InputError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

POSE_MISSING = "pose missing"
POSE_NOT_FINITE = "pose not finite"
POSE_NOT_RIGID = "pose not rigid"
NON_UNIT_QUATERNION = "non-unit quaternion"
TIME_BACKWARDS = "time went backwards"
TIME_GAP = "time gap too long"
SIZE_CHANGED = "size changed"
INTRINSICS_CHANGED = "intrinsics changed"
JUMP = "camera jumped"
#: tolerance of a rigid rotation (``R R^T = I``) and of a unit quaternion's norm
RIGID_TOL = 1e-3


@dataclass(frozen=True)
class TemporalSettings:
    """Settings of :class:`TemporalFilter` (later the ``temporal.*`` parameters).

    ``reset_rel``: relative disagreement [1] above which a pixel's history is dropped (0.1 = 10 % of the depth).
    ``max_history_weight``: cap of the history's accumulated weight [frames of confidence 1]; the steady-state
    blend gives the new frame ``c / (cap + c)``. ``hole_decay``: factor [1] on the weight of a pixel kept from
    history without a current value; ``min_hole_weight``: below it such a pixel is dropped [frames].
    ``pose_required``: the camera moves, so a frame without motion resets (True when a pose source is set).
    ``max_gap_s``: a longer gap between frames resets [s] (0 = never). ``max_jump_m``: a larger translation
    between frames resets [m] (0 = never). ``confirm_frames``: 1 = a disagreeing pixel resets at once; 2 = the
    first frame a pixel disagrees, the history is held there (output and kept); if the next frame disagrees again
    (whether or not it confirms the held-back depth) the pixel resets to it: a pixel is held one frame at most
    (while the camera moves, "the same pixel" is any of the four bilinear neighbours its sample point has in the
    previous frame: :func:`held_near`). While the camera moves, a pixel is held only where its depth is in front
    of all four history pixels around its sample point (:func:`nearest_of_four`: something new); behind them (a
    disocclusion) or within their range (a depth edge) the disagreement is the motion's, and it resets at once.
    Less flicker where the depth alternates (object edges, dropouts), one frame of lag for a moving object.
    """

    reset_rel: float = 0.1
    max_history_weight: float = 8.0
    hole_decay: float = 0.5
    min_hole_weight: float = 0.2
    pose_required: bool = False
    max_gap_s: float = 1.0
    max_jump_m: float = 0.0
    confirm_frames: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.reset_rel < 1:
            raise ConfigError(f"temporal reset_rel must be in (0, 1), got {self.reset_rel}")
        if not self.max_history_weight > 0:
            raise ConfigError(f"temporal max_history_weight must be > 0, got {self.max_history_weight}")
        if not 0 <= self.hole_decay <= 1:
            raise ConfigError(f"temporal hole_decay must be in [0, 1], got {self.hole_decay}")
        if self.confirm_frames not in (1, 2):
            raise ConfigError(f"temporal confirm_frames must be 1 or 2, got {self.confirm_frames}")
        if not (self.min_hole_weight >= 0 and self.max_gap_s >= 0 and self.max_jump_m >= 0):
            raise ConfigError("temporal min_hole_weight, max_gap_s and max_jump_m must be >= 0")


@dataclass(frozen=True)
class TemporalResult:
    """One filtered frame. ``depth_m``: (H, W) float32 [m], NaN where there is no depth; ``weight``: (H, W)
    float32 accumulated weight [frames]; ``reset_reason``: why the whole history was dropped this frame (None:
    it was not, or there was none yet); ``reset_pixels``: pixels whose history was dropped for disagreement;
    ``blended_pixels``: pixels blended with history; ``filled_pixels``: pixels kept from history alone;
    ``confidence``: (H, W) float32 in [0, 1] of the output depth, NaN exactly where ``depth_m`` is NaN -- the
    current confidence where the output is the current value (a new or reset pixel), ``max(current, warped
    history's)`` where blended, the warped history's where filled from history alone -- or None when
    :meth:`TemporalFilter.update` got no confidence map."""

    depth_m: np.ndarray
    weight: np.ndarray
    reset_reason: str | None
    reset_pixels: int
    blended_pixels: int
    filled_pixels: int
    confidence: np.ndarray | None = None


def pose_matrix(quaternion_xyzw: Sequence[float] | np.ndarray, translation_m: Sequence[float] | np.ndarray
                ) -> np.ndarray:
    """4x4 pose from a unit quaternion (x, y, z, w) and translation [m].

    Raises:
        InputError: not finite (message starts with :data:`POSE_NOT_FINITE`) or ``|q|`` not 1 within
            :data:`RIGID_TOL` (message starts with :data:`NON_UNIT_QUATERNION`).
    """
    q = np.asarray(quaternion_xyzw, dtype=np.float64).reshape(-1)
    t = np.asarray(translation_m, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or t.shape != (3,) or not (np.isfinite(q).all() and np.isfinite(t).all()):
        raise InputError(f"{POSE_NOT_FINITE}: quaternion {q.tolist()}, translation {t.tolist()}")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > RIGID_TOL:
        raise InputError(f"{NON_UNIT_QUATERNION}: |q| = {norm:.4f}")
    x, y, z, w = q / norm
    m = np.eye(4)
    m[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    m[:3, 3] = t
    return m


def motion_problem(prev_to_curr: np.ndarray) -> str | None:
    """Why a 4x4 camera motion cannot be used (:data:`POSE_NOT_FINITE`, :data:`POSE_NOT_RIGID`), or None."""
    m = np.asarray(prev_to_curr, dtype=np.float64)
    if m.shape != (4, 4):
        return f"{POSE_NOT_RIGID} (shape {m.shape}, expected 4x4)"
    if not np.isfinite(m).all():
        return POSE_NOT_FINITE
    rot = m[:3, :3]
    if (not np.allclose(m[3], [0, 0, 0, 1], atol=RIGID_TOL)
            or not np.allclose(rot @ rot.T, np.eye(3), atol=RIGID_TOL) or np.linalg.det(rot) < 0):
        return POSE_NOT_RIGID
    return None


def _valid_depth(depth_m: np.ndarray) -> np.ndarray:
    return np.isfinite(depth_m) & (depth_m > 0)


#: map coordinate [px] of a pixel that samples nothing (outside any image: cv2.remap's border value)
OUTSIDE_PX = -1e6
#: bilinear support [1] above which a sample counts as having all four neighbours valid
FULL_SUPPORT = 0.999
#: z-buffer keys: (float32 bits of the depth << 32) | (LAST_SOURCE - source pixel index); none = +inf
LAST_SOURCE = 2**31 - 1
NO_SPLAT_KEY = int(np.array(np.inf, np.float32).view(np.int32)) << 32


def projection_rows(rotation: np.ndarray, translation_m: np.ndarray, k: CameraIntrinsics
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (u, v) at depth z [m] moved by ``p' = R p + t`` and projected with ``k``: ``(u', v') = (n_u / d,
    n_v / d)``, ``d = p'_z``, with ``n_i = z * (c_i0 * x_u + c_i1 * y_v + c_i2) + o_i`` (x_u = (u - cx) / fx,
    y_v = (v - cy) / fy): returns ``(c`` (3, 3) float64 rows (n_u, n_v, d), ``o`` (3,) float64). Each row is
    separable in u and v (one broadcast add per full image)."""
    kmat = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    return kmat @ np.asarray(rotation, np.float64), kmat @ np.asarray(translation_m, np.float64)


def is_static(prev_to_curr: np.ndarray | None) -> bool:
    """No camera motion (None or the identity within 1e-9): the history is used in place, without a warp."""
    return prev_to_curr is None or bool(np.allclose(prev_to_curr, np.eye(4), atol=1e-9))


def ray_axes(k: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(W,) float64 ``x_u = (u - cx) / fx`` and (H,) float64 ``y_v = (v - cy) / fy``: the normalised ray
    coordinates of the pixel columns and rows."""
    return (np.arange(k.width) - k.cx) / k.fx, (np.arange(k.height) - k.cy) / k.fy


class TemporalFilter:
    """Temporal filter of one camera's depth stream (see the module docstring). Not thread-safe."""

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        # the history: np.ndarray here, torch.Tensor in TorchTemporalFilter (hence Any); None = none
        self._depth: Any = None        # (H, W) float32 [m], NaN = none
        self._weight: Any = None       # (H, W) float32 [frames]
        self._confidence: Any = None   # (H, W) float32 [0, 1] of self._depth, NaN where it is NaN
        self._held: Any = None         # (H, W) bool: pixels held last frame (confirm_frames 2), None = none
        self._intrinsics: CameraIntrinsics | None = None
        self._stamp_s: float | None = None
        self._pose: np.ndarray | None = None     # world_T_camera of the last frame (update_at_pose)
        self._axes: tuple[CameraIntrinsics, np.ndarray, np.ndarray] | None = None   # ray_axes, cached
        self._work = _WorkArrays()

    def reset(self) -> None:
        """Forget the history (the next frame starts again)."""
        self._depth = self._weight = self._held = self._intrinsics = self._stamp_s = self._pose = None
        self._confidence = None

    @property
    def has_history(self) -> bool:
        return self._depth is not None

    # ------------------------------------------------------------------ API
    def update_at_pose(self, depth_m: np.ndarray, confidence: np.ndarray | None, intrinsics: CameraIntrinsics,
                       camera_pose: np.ndarray | tuple[Sequence[float], Sequence[float]] | None, *,
                       stamp_s: float | None = None) -> TemporalResult:
        """As :meth:`update`, from the camera's absolute pose: a 4x4 ``world_T_camera`` (optical frame) or a
        (quaternion xyzw, translation [m]) pair, or None when the pose source has none for this frame (a reset:
        :data:`POSE_MISSING`)."""
        if camera_pose is None:   # the pose source has none: the history cannot be warped, whatever pose_required
            had_history, self._pose = self.has_history, None
            return self._restart(depth_m, confidence, intrinsics, stamp_s, POSE_MISSING if had_history else None)
        if isinstance(camera_pose, tuple):
            try:
                pose = pose_matrix(camera_pose[0], camera_pose[1])
            except InputError as exc:
                self._pose = None
                return self._restart(depth_m, confidence, intrinsics, stamp_s, str(exc).split(":")[0])
        else:
            pose = np.asarray(camera_pose, dtype=np.float64)
            problem = motion_problem(pose)
            if problem is not None:
                self._pose = None
                return self._restart(depth_m, confidence, intrinsics, stamp_s, problem)
        previous, self._pose = self._pose, pose
        if previous is None:
            if self.has_history:   # history without a pose (pose lost last frame): cannot warp it
                return self._restart(depth_m, confidence, intrinsics, stamp_s, POSE_MISSING)
            return self.update(depth_m, confidence, intrinsics, None, stamp_s=stamp_s)
        prev_to_curr = np.linalg.solve(pose, previous)   # camera_T_world(curr) @ world_T_camera(prev)
        return self.update(depth_m, confidence, intrinsics, prev_to_curr, stamp_s=stamp_s)

    def update(self, depth_m: np.ndarray, confidence: np.ndarray | None, intrinsics: CameraIntrinsics,
               prev_to_curr: np.ndarray | None = None, *, stamp_s: float | None = None) -> TemporalResult:
        """Filter one frame.

        Args:
            depth_m: (H, W) depth along the optical axis [m]; NaN, inf and <= 0 = no depth.
            confidence: (H, W) per-pixel confidence in [0, 1] (0 = do not use), or None (1 wherever depth is;
                the result's ``confidence`` is then None).
            intrinsics: of ``depth_m`` (``width`` x ``height`` = W x H).
            prev_to_curr: 4x4 rigid motion from the previous camera frame to this one (``p_curr = T p_prev``,
                metres), or None for a static camera (a reset when ``settings.pose_required``).
            stamp_s: capture time [s], or None (no time checks).

        Raises:
            InputError: ``depth_m`` not 2-D, or its shape or the confidence's differs from the intrinsics.
        """
        depth, conf, valid = self._checked(depth_m, confidence, intrinsics)
        reason = self._history_problem(depth, intrinsics, prev_to_curr, stamp_s)
        if reason is not None or self._depth is None or self._weight is None or self._confidence is None:
            return self._start(depth, conf, confidence is not None, intrinsics, stamp_s, reason)
        return self._filtered(depth, conf, valid, prev_to_curr, intrinsics, stamp_s, confidence is not None)

    # ------------------------------------------------------------------ internals
    def _filtered(self, depth: np.ndarray, conf: np.ndarray, valid: np.ndarray, prev_to_curr: np.ndarray | None,
                  intrinsics: CameraIntrinsics, stamp_s: float | None, confidence_given: bool) -> TemporalResult:
        """One frame onto the history (checked: no reset); a subclass may run it elsewhere (the torch filter)."""
        assert self._depth is not None and self._weight is not None and self._confidence is not None
        s, work = self.settings, self._work
        held_before = None if s.confirm_frames == 1 else (
            self._held if self._held is not None else np.zeros(depth.shape, np.bool_))
        nearest_hist = None   # moving, confirm_frames 2: the nearest warped history around each pixel [m]
        if is_static(prev_to_curr):
            warped, w_hist, conf_hist = self._depth, self._weight, self._confidence
            consistent = np.greater(warped, 0, out=work.mask("consistent"))   # NaN (no history) compares False
        else:
            warped, w_hist, conf_hist, consistent, confirm_state = self._warp(
                depth, valid, np.asarray(prev_to_curr, np.float64), intrinsics, held_before)
            if confirm_state is not None:
                held_before, nearest_hist = confirm_state
        tolerance = np.multiply(depth, np.float32(s.reset_rel), out=work.array("tolerance"))
        difference = np.subtract(warped, depth, out=work.array("difference"))
        close = np.less_equal(np.abs(difference, out=difference), tolerance, out=work.mask("close"))   # NaN: False
        compared = np.logical_and(valid, consistent, out=work.mask("compared"))
        agree = np.logical_and(compared, close, out=work.mask("agree"))
        disagree = np.greater(compared, close, out=work.mask("disagree"))   # compared & ~close
        hold: np.ndarray | None = None
        if s.confirm_frames > 1:   # hold the history where this is the first frame to disagree: one frame at most
            hold = disagree.copy()
            if held_before is not None:   # held last frame and still disagreeing: reset now, confirmed or not
                hold &= ~held_before
            if nearest_hist is not None:
                # a moving camera: a depth behind the history is a disocclusion, one within the range of the four
                # history pixels around the sample point a depth edge (both explained by the motion, reset at
                # once, as confirm_frames 1); held only where it is in front of all four (something new)
                with np.errstate(invalid="ignore"):
                    hold &= (nearest_hist - depth) > tolerance
            self._held = hold
            valid, consistent, disagree = valid & ~hold, consistent | hold, disagree & ~hold
        else:
            self._held = None
        w_hist = np.minimum(w_hist, np.float32(s.max_history_weight), out=work.array("w_hist"))
        total = np.add(w_hist, conf, out=work.array("total"))
        blended = np.multiply(w_hist, warped, out=work.array("blended"))
        blended += np.multiply(conf, depth, out=difference)
        with np.errstate(invalid="ignore", divide="ignore"):
            blended /= total
        w_fill = np.multiply(w_hist, np.float32(s.hole_decay), out=work.array("w_fill"))
        fill = np.greater(consistent, valid, out=work.mask("fill"))   # consistent & ~valid
        fill &= np.greater_equal(w_fill, np.float32(s.min_hole_weight), out=work.mask("enough"))
        if hold is not None:
            _where(hold, w_hist, w_fill)
            fill |= hold
        shape = depth.shape
        out = _where(agree, blended, _where(valid, depth, _where(fill, warped, np.full(shape, np.nan, np.float32))))
        weight = _where(agree, total, _where(valid, conf, _where(fill, w_fill, np.zeros(shape, np.float32))))
        out_conf = _where(agree, np.maximum(conf, conf_hist, out=blended),
                          _where(valid, conf, _where(fill, conf_hist, np.full(shape, np.nan, np.float32))))
        self._depth, self._weight, self._confidence, self._stamp_s = out, weight, out_conf, stamp_s
        return TemporalResult(out, weight, None, int(np.count_nonzero(disagree)), int(np.count_nonzero(agree)),
                              int(np.count_nonzero(fill)), out_conf.copy() if confidence_given else None)

    def _checked(self, depth_m: np.ndarray, confidence: np.ndarray | None, intrinsics: CameraIntrinsics
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(depth (H, W) float32 [m], confidence (H, W) float32 in [0, 1], 0 where the depth is not valid, and
        its mask ``> 0``); the confidence and the mask are work arrays (valid until the next frame)."""
        depth = np.asarray(depth_m)
        if depth.ndim != 2:
            raise InputError(f"temporal filter: depth must be (H, W), got shape {depth.shape}")
        if depth.shape != (intrinsics.height, intrinsics.width):
            raise InputError(f"temporal filter: depth is {depth.shape[1]}x{depth.shape[0]} but the intrinsics are "
                             f"for {intrinsics.width}x{intrinsics.height}")
        depth = np.ascontiguousarray(depth, dtype=np.float32)
        raw = None if confidence is None else np.asarray(confidence, dtype=np.float32)
        if raw is not None and raw.shape != depth.shape:
            raise InputError(f"temporal filter: confidence shape {raw.shape} differs from depth {depth.shape}")
        work = self._work
        work.shape = depth.shape
        valid = np.greater(depth, 0, out=work.mask("valid"))   # NaN compares False
        valid &= np.less(depth, np.inf, out=work.mask("finite"))
        conf = work.array("conf")
        if raw is None:
            np.copyto(conf, valid)
            return depth, conf, valid
        valid &= np.greater(raw, 0, out=work.mask("finite"))
        valid &= np.less(raw, np.inf, out=work.mask("finite"))
        conf.fill(0)
        return depth, _where(valid, np.minimum(raw, np.float32(1), out=work.array("difference")), conf), valid

    def _history_problem(self, depth: np.ndarray, intrinsics: CameraIntrinsics, prev_to_curr: np.ndarray | None,
                         stamp_s: float | None) -> str | None:
        s = self.settings
        if stamp_s is not None and not math.isfinite(stamp_s):
            return "time not finite"
        if self._depth is None:
            return None
        if self._depth.shape != depth.shape:
            return SIZE_CHANGED
        if self._intrinsics != intrinsics:
            return INTRINSICS_CHANGED
        if stamp_s is not None and self._stamp_s is not None:
            if stamp_s < self._stamp_s:
                return TIME_BACKWARDS
            if s.max_gap_s > 0 and stamp_s - self._stamp_s > s.max_gap_s:
                return TIME_GAP
        if prev_to_curr is None:
            return POSE_MISSING if s.pose_required else None
        problem = motion_problem(prev_to_curr)
        if problem is not None:
            return problem
        if s.max_jump_m > 0 and float(np.linalg.norm(np.asarray(prev_to_curr)[:3, 3])) > s.max_jump_m:
            return JUMP
        return None

    def _restart(self, depth_m: np.ndarray, confidence: np.ndarray | None, intrinsics: CameraIntrinsics,
                 stamp_s: float | None, reason: str | None) -> TemporalResult:
        depth, conf, _ = self._checked(depth_m, confidence, intrinsics)
        return self._start(depth, conf, confidence is not None, intrinsics, stamp_s, reason)

    def _start(self, depth: np.ndarray, conf: np.ndarray, confidence_given: bool, intrinsics: CameraIntrinsics,
               stamp_s: float | None, reason: str | None) -> TemporalResult:
        """The history starts again from this (checked) frame, which is the output unchanged."""
        valid = conf > 0
        out = _where(valid, depth, np.full(depth.shape, np.nan, np.float32))
        out_conf = _where(valid, conf, np.full(depth.shape, np.nan, np.float32))
        self._depth, self._weight, self._confidence, self._intrinsics = out, conf.copy(), out_conf, intrinsics
        self._held = None
        self._stamp_s = stamp_s if stamp_s is not None and math.isfinite(stamp_s) else None
        return TemporalResult(out, conf.copy(), reason, 0, 0, 0, out_conf.copy() if confidence_given else None)

    def _project(self, depth: np.ndarray, rotation: np.ndarray, translation_m: np.ndarray, k: CameraIntrinsics
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each pixel at ``depth`` [m] moved by (rotation, translation) and projected: (u', v', z' [m]), (H, W)
        float32 work arrays; u', v' are garbage where z' <= 0 or the depth is not > 0."""
        if self._axes is None or self._axes[0] != k:
            xs, ys = ray_axes(k)
            self._axes = (k, xs, ys)
        xs, ys = self._axes[1], self._axes[2]
        rows, offsets = projection_rows(rotation, translation_m, k)
        moved = []
        for name, row, offset in zip(("u", "v", "z"), rows, offsets, strict=True):
            field = np.add((ys * row[1] + row[2]).astype(np.float32)[:, None], (xs * row[0]).astype(np.float32),
                           out=self._work.array(f"moved_{name}"))
            field *= depth
            field += np.float32(offset)
            moved.append(field)
        u_moved, v_moved, z_moved = moved
        with np.errstate(divide="ignore", invalid="ignore"):
            u_moved /= z_moved
            v_moved /= z_moved
        return u_moved, v_moved, z_moved

    def _set_outside(self, mask: np.ndarray, *maps: np.ndarray) -> None:
        """Set ``maps`` to :data:`OUTSIDE_PX` where ``mask`` (in place)."""
        outside = self._work.constant("outside_px", OUTSIDE_PX)
        for m in maps:
            _where(mask, outside, m)

    def _warp(self, depth: np.ndarray, valid: np.ndarray, prev_to_curr: np.ndarray, k: CameraIntrinsics,
              held: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """The history in the current frame: (warped depth [m], warped weight, warped confidence, consistent
        mask (work arrays), and with ``held`` (confirm_frames 2) the pixels that were held in the previous frame
        (:func:`held_near`) and the nearest history depth around each sample point in the current frame [m]
        (:func:`nearest_of_four`), else None), all (H, W)."""
        assert self._depth is not None and self._weight is not None and self._confidence is not None
        work = self._work
        hist = np.fmax(self._depth, np.float32(0), out=work.array("hist"))   # 0 where there is none
        has_hist = work.array("has_hist")
        np.copyto(has_hist, np.greater(hist, 0, out=work.mask("has_hist")))
        stacked = cv2.merge([hist, has_hist, self._weight, np.fmax(self._confidence, np.float32(0), out=work.array(
            "conf_hist"))], work.array("stacked", 4))
        # the guess of a pixel's depth: the current depth, or where there is none the history's at that pixel;
        # the pixel at that depth, moved into the previous frame, is where the history is sampled
        guess = _where(valid, depth, hist)   # hist is in `stacked` already
        curr_to_prev = np.linalg.inv(prev_to_curr)
        map_u, map_v, z_prev = self._project(guess, curr_to_prev[:3, :3], curr_to_prev[:3, 3], k)
        # a point behind the previous camera samples nothing (a pixel without a guess, 0, is never consistent:
        # neither valid nor self-consistent, wherever it samples)
        behind_camera = np.less_equal(z_prev, 0, out=work.mask("behind_camera"))
        behind_camera &= np.greater(guess, 0, out=work.mask("finite"))
        if behind_camera.any():
            self._set_outside(behind_camera, map_u, map_v)
        remapped = cv2.remap(stacked, map_u, map_v, cv2.INTER_LINEAR, work.array("remapped", 4),
                             cv2.BORDER_CONSTANT, 0)
        sampled, support, w_warped, conf_warped = cv2.split(remapped, [work.array(f"sampled_{c}") for c in range(4)])
        # the sampled point (depth ``sampled`` on the ray through (map_u, map_v) of the previous frame),
        # expressed in the current frame: its depth along the current optical axis is sampled * along + t_z
        r_back, t_back = prev_to_curr[2, :3], np.float32(prev_to_curr[2, 3])
        along = np.multiply(map_u, np.float32(r_back[0] / k.fx), out=work.array("along"))
        along += np.multiply(map_v, np.float32(r_back[1] / k.fy), out=work.array("difference"))
        along += np.float32(r_back[2] - r_back[0] * k.cx / k.fx - r_back[1] * k.cy / k.fy)
        warped = sampled
        warped *= along
        warped += t_back
        confirm_state = None
        if held is not None:
            # the history (`hist` holds the guess now), around the sample point, in the current frame
            nearest = nearest_of_four(stacked[..., 0], map_u, map_v, work)
            nearest *= along
            nearest += t_back
            confirm_state = (held_near(held, map_u, map_v, work), nearest)
        consistent = np.greater(support, np.float32(FULL_SUPPORT), out=work.mask("consistent"))
        consistent &= np.greater(warped, 0, out=work.mask("finite"))
        if not valid.all():
            # holes: the guess must be self-consistent (the sampled point projects back onto the pixel), and what
            # inverse sampling found may lie behind something (a disocclusion): checked against a forward splat
            difference = np.abs(np.subtract(warped, guess, out=work.array("difference")), out=work.array("difference"))
            self_consistent = np.less_equal(difference, np.multiply(guess, np.float32(self.settings.reset_rel * 0.5),
                                                                    out=along), out=work.mask("self_consistent"))
            consistent &= np.logical_or(valid, self_consistent, out=self_consistent)
            self._occlusion_check(valid, prev_to_curr, k, warped, w_warped, conf_warped, consistent)
        return warped, w_warped, conf_warped, consistent, confirm_state

    def _occlusion_check(self, valid: np.ndarray, prev_to_curr: np.ndarray, k: CameraIntrinsics,
                         warped: np.ndarray, w_warped: np.ndarray, conf_warped: np.ndarray, consistent: np.ndarray
                         ) -> None:
        """Check the hole pixels' inversely sampled history against the history forward-splatted into the
        current frame (z-buffer, nearest pixel): a value behind the splatted surface (beyond ``reset_rel``, 3x3
        neighbourhood against splat cracks) is replaced by the splatted value (with its weight and confidence), or
        dropped where none landed or what landed is itself behind its neighbourhood (a crack: a surface the
        camera approaches spreads apart and what is behind it lands in between); ``warped``, ``w_warped``,
        ``conf_warped`` and ``consistent`` change in place. Only the history's pixels that land within one pixel
        of a hole are splatted (the splat is looked at nowhere else)."""
        assert self._depth is not None and self._weight is not None and self._confidence is not None
        work = self._work
        holes = np.logical_not(valid, out=work.mask("holes"))
        height, width = holes.shape
        hist = np.fmax(self._depth, np.float32(0), out=work.array("hist_source"))   # 0 where none
        u_moved, v_moved, z_moved = self._project(hist, prev_to_curr[:3, :3], prev_to_curr[:3, 3], k)
        sourced = np.greater(z_moved, np.float32(1e-3), out=work.mask("sourced"))   # in front of the camera
        sourced &= work.mask("has_hist")   # (set by _warp)
        near_holes = cv2.dilate(holes.view(np.uint8), np.ones((3, 3), np.uint8), work.array("near_holes",
                                                                                              dtype=np.uint8))
        # nearest pixel as np.rint (cv2.remap's INTER_NEAREST rounds half to even alike); outside: 0
        lands_near = cv2.remap(near_holes, u_moved, v_moved, cv2.INTER_NEAREST, work.array("lands_near",
                               dtype=np.uint8), cv2.BORDER_CONSTANT, 0)
        sources = np.flatnonzero(np.logical_and(lands_near, sourced, out=sourced))
        target = (np.rint(v_moved.reshape(-1)[sources]).astype(np.int64) * width
                  + np.rint(u_moved.reshape(-1)[sources]).astype(np.int64))
        # z-buffer of (depth, source) keys: the nearest depth wins, a tie goes to the last source (row-major)
        keys = z_moved.reshape(-1)[sources].view(np.int32).astype(np.int64) << 32   # positive float32: ordered bits
        keys |= LAST_SOURCE - sources
        zbuffer = work.array("zbuffer", dtype=np.int64).reshape(-1)
        zbuffer.fill(NO_SPLAT_KEY)
        np.minimum.at(zbuffer, target, keys)
        splat_bits = work.array("splat", dtype=np.int32)
        np.copyto(splat_bits.reshape(-1), np.right_shift(zbuffer, 32, out=work.array("zbuffer_high", dtype=np.int64)
                                                         .reshape(-1)), casting="unsafe")
        splat = splat_bits.view(np.float32)   # inf where none landed
        nearest_surface = cv2.erode(splat, np.ones((3, 3), np.uint8), work.array("nearest_surface"))
        with np.errstate(over="ignore"):
            np.multiply(nearest_surface, np.float32(1 + self.settings.reset_rel), out=nearest_surface)
        behind = np.greater(warped, nearest_surface, out=work.mask("behind"))
        behind &= holes
        consistent &= np.logical_not(behind, out=behind)
        # the splat itself may be a farther surface seen through a crack of a nearer one (its pixels spread apart
        # as the camera approaches it): taken only where it is not behind its neighbourhood either
        take_splat = np.less(splat, np.inf, out=work.mask("take_splat"))
        take_splat &= np.less_equal(splat, nearest_surface, out=work.mask("in_front"))
        take_splat &= holes
        take_splat &= np.logical_not(consistent, out=work.mask("finite"))
        chosen = np.flatnonzero(take_splat)
        if chosen.size:
            winner = LAST_SOURCE - (zbuffer[chosen] & 0xFFFFFFFF)
            warped.reshape(-1)[chosen] = splat.reshape(-1)[chosen]
            w_warped.reshape(-1)[chosen] = self._weight.reshape(-1)[winner]
            conf_warped.reshape(-1)[chosen] = self._confidence.reshape(-1)[winner]
            consistent.reshape(-1)[chosen] = True


def _at_cells(of_four: np.ndarray, map_u: np.ndarray, map_v: np.ndarray, work: _WorkArrays, name: str
              ) -> np.ndarray:
    """``of_four`` (H + 1, W + 1) uint8 / float32: a value of the four pixels (rows j - 1, j, columns i - 1, i) at
    [j, i]; read at each sample point (``map_u``, ``map_v``) [px]: (H, W) work array ``name``, the value at
    [floor(v) + 1, floor(u) + 1], 0 where the point has no pixel of the image among its four bilinear neighbours
    (or is NaN)."""
    cols = np.add(np.floor(map_u, out=work.array("cell_u")), np.float32(1), out=work.array("cell_u"))
    rows = np.add(np.floor(map_v, out=work.array("cell_v")), np.float32(1), out=work.array("cell_v"))
    # integer coordinates: INTER_NEAREST reads exactly that cell
    return cv2.remap(of_four, cols, rows, cv2.INTER_NEAREST, work.array(name, dtype=of_four.dtype.type),
                     cv2.BORDER_CONSTANT, 0)


def _padded(image: np.ndarray, work: _WorkArrays, name: str) -> np.ndarray:
    """``image`` (H, W) with a border of one 0 pixel: (H + 2, W + 2) work array ``name``."""
    height, width = image.shape
    padded = work.sized(name, (height + 2, width + 2), image.dtype.type)
    padded[0], padded[-1], padded[:, 0], padded[:, -1] = 0, 0, 0, 0
    padded[1:-1, 1:-1] = image
    return padded


def held_near(held: np.ndarray, map_u: np.ndarray, map_v: np.ndarray, work: _WorkArrays | None = None
              ) -> np.ndarray:
    """(H, W) bool: the current pixels whose sample point (``map_u``, ``map_v``) [px] in the previous frame has a
    pixel of ``held`` (H, W) bool among its four bilinear neighbours (columns floor(u), floor(u) + 1, rows floor(v),
    floor(v) + 1): the pixels that were held last frame, wherever the camera moved them. Any of the four, not a
    resampled value: a held pixel cannot slip through the resampling and be held again. ``work``: reused arrays
    (the result is one of them); None = fresh ones."""
    work = work or _WorkArrays(map_u.shape)
    padded = _padded(held.view(np.uint8), work, "held_padded")
    any_of_four = work.sized("held_of_four", (padded.shape[0] - 1, padded.shape[1] - 1), np.uint8)
    np.bitwise_or(padded[:-1, :-1], padded[1:, :-1], out=any_of_four)
    any_of_four |= padded[:-1, 1:]
    any_of_four |= padded[1:, 1:]
    return _at_cells(any_of_four, map_u, map_v, work, "held_near").view(np.bool_)


def nearest_of_four(hist: np.ndarray, map_u: np.ndarray, map_v: np.ndarray, work: _WorkArrays | None = None
                    ) -> np.ndarray:
    """(H, W) float32 [m]: the smallest of ``hist`` (H, W) float32 [m] (0 = none; outside the image 0) at the four
    bilinear neighbours of each sample point (``map_u``, ``map_v``) [px]: the nearest surface the previous frame
    saw around it. ``work``: reused arrays (the result is one of them); None = fresh ones."""
    work = work or _WorkArrays(map_u.shape)
    padded = _padded(np.ascontiguousarray(hist), work, "hist_padded")
    nearest = work.sized("hist_of_four", (padded.shape[0] - 1, padded.shape[1] - 1), np.float32)
    np.minimum(padded[:-1, :-1], padded[1:, :-1], out=nearest)
    np.minimum(nearest, padded[:-1, 1:], out=nearest)
    np.minimum(nearest, padded[1:, 1:], out=nearest)
    return _at_cells(nearest, map_u, map_v, work, "nearest_of_four")


class _WorkArrays:
    """Reusable work arrays of one filter, by name (fresh arrays every frame cost page faults, which at 640x480
    cost more than the arithmetic on them). Each is (H, W) of the current frame (x channels)."""

    def __init__(self, shape: tuple[int, ...] = (0, 0)) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._constants: dict[str, np.ndarray] = {}
        self.shape: tuple[int, ...] = shape

    def array(self, name: str, channels: int = 1, dtype: type = np.float32) -> np.ndarray:
        """The work array ``name`` (H, W) or (H, W, channels) of ``dtype``, contents undefined."""
        return self.sized(name, self.shape if channels == 1 else (*self.shape, channels), dtype)

    def sized(self, name: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        """The work array ``name`` of ``shape`` and ``dtype``, contents undefined."""
        found = self._arrays.get(name)
        if found is None or found.shape != shape or found.dtype != dtype:
            found = self._arrays[name] = np.empty(shape, dtype)
        return found

    def constant(self, name: str, value: float) -> np.ndarray:
        """(H, W) float32 filled with ``value`` (kept; do not write to it)."""
        found = self._constants.get(name)
        if found is None or found.shape != self.shape:
            found = self._constants[name] = np.full(self.shape, value, np.float32)
        return found

    def mask(self, name: str) -> np.ndarray:
        return self.array(name, dtype=np.bool_)


def _where(mask: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target`` with ``source`` copied in where ``mask`` (in place; all (H, W), ``target`` contiguous float32):
    ``np.where(mask, source, target)`` without a new array, several times faster (cv2.copyTo)."""
    cv2.copyTo(np.ascontiguousarray(source, np.float32), np.ascontiguousarray(mask).view(np.uint8), target)
    return target

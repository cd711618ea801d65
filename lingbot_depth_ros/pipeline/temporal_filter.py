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
    between frames resets [m] (0 = never). ``confirm_frames``: 1 = a disagreeing pixel resets at once; 2 = it
    resets only when the next frame confirms the new depth (within ``reset_rel``), the history is held meanwhile:
    less flicker where the depth alternates (object edges, dropouts), one frame of lag for a moving object.
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


class TemporalFilter:
    """Temporal filter of one camera's depth stream (see the module docstring). Not thread-safe."""

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        self._depth: np.ndarray | None = None    # (H, W) float32 [m], NaN = none
        self._weight: np.ndarray | None = None   # (H, W) float32 [frames]
        self._confidence: np.ndarray | None = None  # (H, W) float32 [0, 1] of self._depth, NaN where it is NaN
        self._pending: np.ndarray | None = None  # (H, W) float32 [m]: a disagreeing depth to confirm, 0 = none
        self._intrinsics: CameraIntrinsics | None = None
        self._stamp_s: float | None = None
        self._pose: np.ndarray | None = None     # world_T_camera of the last frame (update_at_pose)
        self._rays: tuple[CameraIntrinsics, np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        """Forget the history (the next frame starts again)."""
        self._depth = self._weight = self._pending = self._intrinsics = self._stamp_s = self._pose = None
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
        depth, conf = self._checked(depth_m, confidence, intrinsics)
        reason = self._history_problem(depth, intrinsics, prev_to_curr, stamp_s)
        if reason is not None or self._depth is None or self._weight is None or self._confidence is None:
            return self._restart(depth, confidence, intrinsics, stamp_s, reason)
        s = self.settings
        valid = conf > 0
        pending = self._pending if self._pending is not None else np.zeros_like(depth)
        if prev_to_curr is None or np.allclose(prev_to_curr, np.eye(4), atol=1e-9):
            warped, w_hist, conf_hist = self._depth, self._weight, self._confidence
            consistent = _valid_depth(warped)
        else:
            warped, w_hist, conf_hist, consistent, pending = self._warp(
                depth, valid, np.asarray(prev_to_curr, np.float64), intrinsics, pending)
        with np.errstate(invalid="ignore"):
            agree = valid & consistent & (np.abs(warped - depth) <= s.reset_rel * depth)
            disagree = valid & consistent & ~agree
            if s.confirm_frames > 1:   # hold the history where this is the first frame to disagree
                hold = disagree & ~(np.abs(pending - depth) <= s.reset_rel * depth)
                self._pending = np.where(hold, depth, np.float32(0)).astype(np.float32)
                valid = valid & ~hold
                consistent = consistent | hold
        fill = ~valid & consistent
        w_hist = np.minimum(w_hist, np.float32(s.max_history_weight))
        total = w_hist + conf
        with np.errstate(invalid="ignore", divide="ignore"):
            blended = (w_hist * warped + conf * depth) / total
        w_fill = w_hist * np.float32(s.hole_decay)
        fill &= w_fill >= s.min_hole_weight
        if s.confirm_frames > 1:
            w_fill = np.where(hold, w_hist, w_fill)
            fill |= hold
            disagree &= ~hold
        out = np.where(agree, blended, np.where(valid, depth, np.where(fill, warped, np.float32(np.nan))))
        weight = np.where(agree, total, np.where(valid, conf, np.where(fill, w_fill, np.float32(0))))
        out_conf = np.where(agree, np.maximum(conf, conf_hist),
                            np.where(valid, conf, np.where(fill, conf_hist, np.float32(np.nan))))
        out, weight = out.astype(np.float32, copy=False), weight.astype(np.float32, copy=False)
        out_conf = out_conf.astype(np.float32, copy=False)
        self._depth, self._weight, self._confidence, self._stamp_s = out, weight, out_conf, stamp_s
        return TemporalResult(out, weight, None, int(np.count_nonzero(disagree)), int(np.count_nonzero(agree)),
                              int(np.count_nonzero(fill)), None if confidence is None else out_conf.copy())

    # ------------------------------------------------------------------ internals
    def _checked(self, depth_m: np.ndarray, confidence: np.ndarray | None, intrinsics: CameraIntrinsics
                 ) -> tuple[np.ndarray, np.ndarray]:
        depth = np.asarray(depth_m)
        if depth.ndim != 2:
            raise InputError(f"temporal filter: depth must be (H, W), got shape {depth.shape}")
        if depth.shape != (intrinsics.height, intrinsics.width):
            raise InputError(f"temporal filter: depth is {depth.shape[1]}x{depth.shape[0]} but the intrinsics are "
                             f"for {intrinsics.width}x{intrinsics.height}")
        depth = depth.astype(np.float32, copy=False)
        valid = _valid_depth(depth)
        if confidence is None:
            conf = valid.astype(np.float32)
        else:
            conf = np.asarray(confidence, dtype=np.float32)
            if conf.shape != depth.shape:
                raise InputError(f"temporal filter: confidence shape {conf.shape} differs from depth {depth.shape}")
            conf = np.where(valid & np.isfinite(conf), np.clip(conf, 0, 1), 0).astype(np.float32)
        return depth, conf

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
        depth, conf = self._checked(depth_m, confidence, intrinsics)
        out = np.where(conf > 0, depth, np.nan).astype(np.float32)
        out_conf = np.where(conf > 0, conf, np.nan).astype(np.float32)
        self._depth, self._weight, self._intrinsics, self._pending = out, conf.copy(), intrinsics, None
        self._confidence = out_conf
        self._stamp_s = stamp_s if stamp_s is not None and math.isfinite(stamp_s) else None
        return TemporalResult(out, conf.copy(), reason, 0, 0, 0, None if confidence is None else out_conf.copy())

    def _ray_grids(self, intrinsics: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
        """(H, W) float32 normalised ray coordinates x = (u - cx) / fx, y = (v - cy) / fy (cached)."""
        h, w = intrinsics.height, intrinsics.width
        if self._rays is None or self._rays[0] != intrinsics:
            xs = ((np.arange(w, dtype=np.float32) - intrinsics.cx) / intrinsics.fx)
            ys = ((np.arange(h, dtype=np.float32) - intrinsics.cy) / intrinsics.fy)
            self._rays = (intrinsics, np.broadcast_to(xs, (h, w)).copy(), np.broadcast_to(ys[:, None], (h, w)).copy())
        return self._rays[1], self._rays[2]

    def _warp(self, depth: np.ndarray, valid: np.ndarray, prev_to_curr: np.ndarray, k: CameraIntrinsics,
              pending: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The history in the current frame: (warped depth [m], warped weight, warped confidence, consistent
        mask, warped pending depth [m], 0 = none), all (H, W)."""
        assert self._depth is not None and self._weight is not None and self._confidence is not None
        x, y = self._ray_grids(k)
        curr_to_prev = np.linalg.inv(prev_to_curr)
        r, t = curr_to_prev[:3, :3].astype(np.float32), curr_to_prev[:3, 3].astype(np.float32)
        r_back, t_back = prev_to_curr[2, :3].astype(np.float32), np.float32(prev_to_curr[2, 3])
        hist = np.nan_to_num(self._depth, nan=0.0)
        stacked = cv2.merge([hist, _valid_depth(self._depth).astype(np.float32), self._weight, pending,
                             np.nan_to_num(self._confidence, nan=0.0)])
        # per-pixel direction of the ray in the previous frame (depth-independent part) and offset
        dx = r[0, 0] * x + r[0, 1] * y + r[0, 2]
        dy = r[1, 0] * x + r[1, 1] * y + r[1, 2]
        dz = r[2, 0] * x + r[2, 1] * y + r[2, 2]
        guess = np.where(valid, depth, hist)
        # the guess of a pixel's depth: the current depth, or where there is none the history's at that pixel
        guess = np.where(valid, depth, hist)
        px, py, pz = guess * dx + t[0], guess * dy + t[1], guess * dz + t[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            map_u = (k.fx * px / pz + k.cx).astype(np.float32)
            map_v = (k.fy * py / pz + k.cy).astype(np.float32)
        map_u[~(pz > 0) | ~(guess > 0)] = -1e6
        remapped = cv2.remap(stacked, map_u, map_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        sampled, support, w_warped, pending_sampled, conf_warped = (remapped[..., c] for c in range(5))
        # the sampled point (depth ``sampled`` on the ray through (map_u, map_v) of the previous frame),
        # expressed in the current frame: its depth along the current optical axis
        rx = (map_u - k.cx) / k.fx
        ry = (map_v - k.cy) / k.fy
        along_axis = r_back[0] * rx + r_back[1] * ry + r_back[2]
        warped = sampled * along_axis + t_back
        pending_warped = (np.where(pending_sampled > 0, pending_sampled * along_axis + t_back, 0)
                          if self.settings.confirm_frames > 1 else pending)
        consistent = (support > 0.999) & (warped > 0)
        if not valid.all():
            # holes: the guess must be self-consistent (the sampled point projects back onto the pixel), and what
            # inverse sampling found may lie behind something (a disocclusion): checked against a forward splat
            with np.errstate(invalid="ignore"):
                consistent &= valid | (np.abs(warped - guess) <= self.settings.reset_rel * 0.5 * guess)
            warped, w_warped, conf_warped, consistent = self._occlusion_checked(
                valid, prev_to_curr, k, warped, w_warped, conf_warped, consistent)
        return (np.asarray(warped, np.float32), np.asarray(w_warped, np.float32),
                np.asarray(conf_warped, np.float32), consistent, pending_warped.astype(np.float32))

    def _occlusion_checked(self, valid: np.ndarray, prev_to_curr: np.ndarray, k: CameraIntrinsics,
                           warped: np.ndarray, w_warped: np.ndarray, conf_warped: np.ndarray,
                           consistent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Check the hole pixels' inversely sampled history against the history forward-splatted into the
        current frame (z-buffer, nearest pixel): a value behind the splatted surface (beyond ``reset_rel``, 3x3
        neighbourhood against splat cracks) is replaced by the splatted value (with its weight and confidence), or
        dropped where none landed."""
        assert self._depth is not None and self._weight is not None and self._confidence is not None
        x, y = self._ray_grids(k)
        src = _valid_depth(self._depth)
        z_src, w_src, c_src = self._depth[src], self._weight[src], self._confidence[src]
        m = prev_to_curr.astype(np.float32)
        px, py = x[src] * z_src, y[src] * z_src
        qx = m[0, 0] * px + m[0, 1] * py + m[0, 2] * z_src + m[0, 3]
        qy = m[1, 0] * px + m[1, 1] * py + m[1, 2] * z_src + m[1, 3]
        qz = m[2, 0] * px + m[2, 1] * py + m[2, 2] * z_src + m[2, 3]
        front = qz > 1e-3
        qx, qy, qz, w_src, c_src = qx[front], qy[front], qz[front], w_src[front], c_src[front]
        u = np.rint(k.fx * qx / qz + k.cx).astype(np.int64)
        v = np.rint(k.fy * qy / qz + k.cy).astype(np.int64)
        inside = (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
        flat, qz, w_src, c_src = v[inside] * k.width + u[inside], qz[inside], w_src[inside], c_src[inside]
        splat = np.full(k.width * k.height, np.inf, np.float32)
        np.minimum.at(splat, flat, qz)
        winner = qz == splat[flat]
        splat_w = np.zeros(k.width * k.height, np.float32)
        splat_w[flat[winner]] = w_src[winner]
        splat_c = np.zeros(k.width * k.height, np.float32)
        splat_c[flat[winner]] = c_src[winner]
        splat_2d, splat_w_2d = splat.reshape(k.height, k.width), splat_w.reshape(k.height, k.width)
        nearest_surface = cv2.erode(splat_2d, np.ones((3, 3), np.uint8))
        holes = ~valid
        with np.errstate(invalid="ignore", over="ignore"):
            behind = holes & consistent & (warped > nearest_surface * (1 + self.settings.reset_rel))
        consistent = consistent & ~behind
        take_splat = holes & ~consistent & np.isfinite(splat_2d)
        warped = np.where(take_splat, splat_2d, warped)
        w_warped = np.where(take_splat, splat_w_2d, w_warped)
        conf_warped = np.where(take_splat, splat_c.reshape(k.height, k.width), conf_warped)
        return warped, w_warped, conf_warped, consistent | take_splat

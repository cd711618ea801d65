"""Vectorized ray casting against an axis-aligned room with axis-aligned boxes inside it.

World frame (REP 103): x forward, y left, z up, metres. The room is the inside of one
axis-aligned box (floor at ``z = room_min[2]``); obstacles are solid axis-aligned boxes. Rays
start inside the room, so every ray hits something: the nearest obstacle face or a room face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError

# Surface ids of the room faces; obstacle box k gets id FIRST_BOX_ID + k.
FLOOR, CEILING, WALL_BACK, WALL_FRONT, WALL_RIGHT, WALL_LEFT = 0, 1, 2, 3, 4, 5
FIRST_BOX_ID = 6

_ROOM_FACE_IDS = np.array([[WALL_BACK, WALL_FRONT],   # x: min face, max face
                           [WALL_RIGHT, WALL_LEFT],   # y (left is +y)
                           [FLOOR, CEILING]],         # z
                          dtype=np.int16)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: ``lo`` and ``hi`` corners (3,) [m] in the world frame, ``color`` RGB 0..1."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    color: tuple[float, float, float] = (0.6, 0.6, 0.6)

    def __post_init__(self) -> None:
        if not all(high > low for low, high in zip(self.lo, self.hi)):
            raise InputError(f"box must have hi > lo on every axis, got lo={self.lo} hi={self.hi}")


@dataclass
class RayHits:
    """Result of :func:`cast_rays` for N rays.

    ``t``: (N,) float32 ray parameter of the hit (distance in units of the ray direction's length);
    ``surface``: (N,) int16 surface id (room face constant or ``FIRST_BOX_ID + box index``);
    ``axis``: (N,) int8 axis (0, 1, 2) of the face normal; ``sign``: (N,) int8 ±1 sign of the
    normal along that axis (normals point towards the ray origin side of the face).
    """

    t: np.ndarray
    surface: np.ndarray
    axis: np.ndarray
    sign: np.ndarray

    def points(self, origin: np.ndarray, dirs: np.ndarray, axis_major: bool = False) -> np.ndarray:
        """Hit points (3, N) float32 [m] in the world frame, one row per axis (``dirs`` as given to
        :func:`cast_rays`)."""
        rows = dirs if axis_major else dirs.T
        return (np.asarray(origin, dtype=np.float32)[:, None] + rows * self.t[None, :]).astype(np.float32)

    def normals(self) -> np.ndarray:
        """Unit face normals (N, 3) float32."""
        normals = np.zeros((self.t.shape[0], 3), dtype=np.float32)
        normals[np.arange(self.t.shape[0]), self.axis] = self.sign
        return normals


def rotate_axis_major(rotation: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``rotation`` (3, 3) applied to (3, N) axis-major vectors -> (3, N) float32.

    Element-wise on purpose: a large BLAS matmul wakes OpenBLAS's worker threads, which on a busy
    2-core machine made a whole frame twice as slow as this.
    """
    r = np.asarray(rotation, dtype=np.float32)
    out = np.empty((3, vectors.shape[1]), dtype=np.float32)
    for i in range(3):
        out[i] = r[i, 0] * vectors[0] + r[i, 1] * vectors[1] + r[i, 2] * vectors[2]
    return out


def cast_rays(origin: np.ndarray, dirs: np.ndarray, room_min: np.ndarray, room_max: np.ndarray,
              boxes: Sequence[Box], candidates: Sequence[np.ndarray | None] | None = None,
              axis_major: bool = False) -> RayHits:
    """Cast N rays from one ``origin`` (3,) [m] along ``dirs`` (N, 3) (need not be unit length).

    The origin must lie strictly inside the room and outside every box.

    Args:
        origin: (3,) ray origin [m], world frame.
        dirs: (N, 3) ray directions, world frame — or (3, N) with ``axis_major``.
        room_min, room_max: (3,) corners of the room interior [m].
        boxes: obstacle boxes.
        candidates: optional, one entry per box: int indices of the only rays that can hit that box
            (a conservative superset, e.g. from the box's bounding rectangle in the image), or None
            for "test every ray". Pure speed-up; the result is the same as without it.
        axis_major: ``dirs`` is (3, N), one row per axis (saves a transpose).

    Returns:
        :class:`RayHits` of the nearest surface per ray.

    Raises:
        InputError: origin outside the room or inside a box, ``dirs`` not (N, 3), or a
            ``candidates`` list of the wrong length.
    """
    origin = np.asarray(origin, dtype=np.float32).reshape(3)
    room_min = np.asarray(room_min, dtype=np.float32).reshape(3)
    room_max = np.asarray(room_max, dtype=np.float32).reshape(3)
    if dirs.ndim != 2 or dirs.shape[0 if axis_major else 1] != 3:
        raise InputError(f"ray directions must be {'(3, N)' if axis_major else '(N, 3)'}, got shape {dirs.shape}")
    if np.any(origin <= room_min) or np.any(origin >= room_max):
        raise InputError(f"ray origin {origin.tolist()} is not inside the room "
                         f"[{room_min.tolist()}, {room_max.tolist()}]")
    if candidates is not None and len(candidates) != len(boxes):
        raise InputError(f"need one candidates entry per box ({len(boxes)}), got {len(candidates)}")
    # Structure of arrays: one contiguous row per axis. Exact zeros become tiny numbers so 1/d is
    # a huge finite value of the right sign (no NaN from 0 * inf).
    d = np.ascontiguousarray(dirs if axis_major else dirs.T, dtype=np.float32)
    d = np.where(d == 0.0, np.float32(1e-12), d)
    inv = np.float32(1.0) / d

    # Room: every ray leaves the room interior through the face it reaches first. Per axis the
    # exit is the larger of the two plane intersections (the other one lies behind the origin).
    t_axis = np.maximum((room_min - origin)[:, None] * inv, (room_max - origin)[:, None] * inv)
    t = np.minimum(np.minimum(t_axis[0], t_axis[1]), t_axis[2])
    axis = np.where(t_axis[0] == t, np.int8(0), np.where(t_axis[1] == t, np.int8(1), np.int8(2)))
    positive = d > 0
    went_positive = np.where(axis == 0, positive[0], np.where(axis == 1, positive[1], positive[2]))
    surface = _ROOM_FACE_IDS.reshape(-1)[axis * 2 + went_positive]
    sign = np.where(went_positive, np.int8(-1), np.int8(1))  # normals point back into the room

    for k, box in enumerate(boxes):
        lo = np.asarray(box.lo, dtype=np.float32)
        hi = np.asarray(box.hi, dtype=np.float32)
        if np.all(origin > lo) and np.all(origin < hi):
            raise InputError(f"ray origin {origin.tolist()} is inside obstacle box {k}")
        subset = None if candidates is None else candidates[k]
        if subset is not None and subset.size == 0:
            continue
        inv_k = inv if subset is None else inv[:, subset]
        t1 = (lo - origin)[:, None] * inv_k
        t2 = (hi - origin)[:, None] * inv_k
        near = np.minimum(t1, t2)
        t_enter = near.max(axis=0)
        t_leave = np.maximum(t1, t2).min(axis=0)
        t_current = t if subset is None else t[subset]
        hit = (t_enter <= t_leave) & (t_enter > 0) & (t_enter < t_current)
        local = np.flatnonzero(hit)
        if local.size == 0:
            continue
        rays = local if subset is None else subset[local]
        enter_axis = near[:, local].argmax(axis=0)
        t[rays] = t_enter[local]
        surface[rays] = FIRST_BOX_ID + k
        axis[rays] = enter_axis
        sign[rays] = np.where(inv_k[enter_axis, local] > 0, np.int8(-1), np.int8(1))
    return RayHits(t=t.astype(np.float32, copy=False), surface=surface.astype(np.int16, copy=False),
                   axis=axis, sign=sign.astype(np.int8, copy=False))

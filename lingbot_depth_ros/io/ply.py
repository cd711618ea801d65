"""Binary little-endian PLY point clouds (xyz float32 [m], optional rgb uint8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lingbot_depth_ros.errors import InputError


def write_ply(path: str | Path, xyz: np.ndarray, rgb: np.ndarray | None = None) -> Path:
    """Write points to a binary PLY.

    Args:
        path: output file.
        xyz: (N, 3) float points [m]; rows with any non-finite coordinate are skipped.
        rgb: optional (N, 3) uint8 colours.

    Returns:
        The path written.
    """
    xyz = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    keep = np.isfinite(xyz).all(axis=1)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if rgb is not None:
        rgb = np.asarray(rgb).reshape(-1, 3)
        if rgb.shape[0] != xyz.shape[0] or rgb.dtype != np.uint8:
            raise InputError(f"rgb must be (N, 3) uint8 matching xyz {xyz.shape}, got {rgb.shape} {rgb.dtype}")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    table = np.empty(int(keep.sum()), dtype=fields)
    for i, axis in enumerate("xyz"):
        table[axis] = xyz[keep, i]
    if rgb is not None:
        for i, channel in enumerate(("red", "green", "blue")):
            table[channel] = rgb[keep, i]
    ply_types = {"<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {table.shape[0]}"]
    header += [f"property {ply_types[t]} {name}" for name, t in fields]
    header.append("end_header")
    path = Path(path)
    with path.open("wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(table.tobytes())
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a binary little-endian PLY written by :func:`write_ply`.

    Returns:
        ((N, 3) float32 xyz [m], (N, 3) uint8 rgb or None).
    """
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise InputError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise InputError(f"{path}: only binary_little_endian PLY is supported")
    count = 0
    fields: list[tuple[str, str]] = []
    types = {"float": "<f4", "uchar": "u1"}
    for line in header:
        parts = line.split()
        if parts[:2] == ["element", "vertex"]:
            count = int(parts[2])
        elif parts[:1] == ["property"]:
            if parts[1] not in types:
                raise InputError(f"{path}: unsupported PLY property type {parts[1]}")
            fields.append((parts[2], types[parts[1]]))
    table = np.frombuffer(data, dtype=fields, count=count, offset=end + len(b"end_header\n"))
    xyz = np.stack([table["x"], table["y"], table["z"]], axis=1).astype(np.float32)
    names = {name for name, _ in fields}
    rgb = np.stack([table["red"], table["green"], table["blue"]], axis=1) if "red" in names else None
    return xyz, rgb

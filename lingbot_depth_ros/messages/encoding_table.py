"""The one table of sensor_msgs/Image encodings, built from the family modules of
:mod:`lingbot_depth_ros.messages.encodings` (every module there that defines ``FAMILY``).

Read by the ROS-free decoders (:mod:`lingbot_depth_ros.messages.image`) and by the message encoders
(``ros/image_codec.py``, ``bags/messages.py``): the layout of a name, whether it is a colour or a depth
encoding, and its conversions. A name in two families is one entry with the meanings of both.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from lingbot_depth_ros.messages import encodings as _families
from lingbot_depth_ros.messages.encodings import Encoding

_ROLES = ("to_rgb", "to_depth_m", "from_rgb")


def merge(entries: Iterable[Encoding]) -> dict[str, Encoding]:
    """name -> one :class:`Encoding` with the meanings every family gives that name.

    Raises:
        ValueError: two families give a name different layouts, or the same meaning twice.
    """
    table: dict[str, Encoding] = {}
    for entry in entries:
        known = table.get(entry.name)
        if known is None:
            table[entry.name] = entry
            continue
        if (known.dtype, known.channels) != (entry.dtype, entry.channels):
            raise ValueError(f"encoding '{entry.name}' is listed with two layouts: {known.channels} x {known.dtype} "
                             f"and {entry.channels} x {entry.dtype}")
        twice = [role for role in _ROLES if getattr(known, role) is not None and getattr(entry, role) is not None]
        if twice:
            raise ValueError(f"encoding '{entry.name}' is given {', '.join(twice)} by two families")
        added = {role: getattr(entry, role) for role in _ROLES if getattr(entry, role) is not None}
        if entry.to_rgb is not None:
            added.update(monochrome=entry.monochrome, rgb_tolerance=entry.rgb_tolerance)
        table[entry.name] = dataclasses.replace(known, **added)
    return table


def _load_families() -> dict[str, Encoding]:
    entries: list[Encoding] = []
    for module in sorted(pkgutil.iter_modules(_families.__path__), key=lambda m: m.name):
        family = getattr(importlib.import_module(f"{_families.__name__}.{module.name}"), "FAMILY", ())
        entries.extend(family)
    return merge(entries)


#: every known encoding, by name
ENCODINGS: Mapping[str, Encoding] = MappingProxyType(_load_families())
#: encodings with a colour meaning (input images)
COLOR_ENCODINGS: tuple[str, ...] = tuple(name for name, e in ENCODINGS.items() if e.to_rgb is not None)
#: encodings with a depth meaning (sparse depth, ground truth)
DEPTH_ENCODINGS: tuple[str, ...] = tuple(name for name, e in ENCODINGS.items() if e.to_depth_m is not None)


def listed(names: Iterable[str]) -> str:
    """``names`` for an error message, comma-separated in a stable order."""
    return ", ".join(sorted(names, key=str.lower))

"""sensor_msgs/Image encodings, one module per family; each module lists its names in ``FAMILY``.

A family module holds a tuple ``FAMILY`` of :class:`Encoding` records: the pixel layout of each name and
what its pixels mean (colour -> RGB, depth -> metres), plus the inverse colour conversion used to write
images of that encoding (test bags, round trips). :mod:`lingbot_depth_ros.messages.encoding_table` imports
every module of this package and builds the one table that the decoders (:mod:`lingbot_depth_ros.messages.image`)
and the message encoders read. A new encoding is therefore one new module here and nothing else; a name listed
by two families (``mono16``: a colour image to one, depth to the other) gets both meanings, provided both
give it the same layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: pixels as read from the message, (H, W) or (H, W, C) in the encoding's dtype -> (H, W, 3) uint8 RGB
ToRgb = Callable[[np.ndarray], np.ndarray]
#: pixels -> (H, W) float32 depth [m], NaN where there is no measurement
ToDepth = Callable[[np.ndarray], np.ndarray]
#: (H, W, 3) uint8 RGB -> pixels of the encoding (the inverse of ``ToRgb``, up to ``rgb_tolerance``)
FromRgb = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Encoding:
    """One ``sensor_msgs/Image.encoding`` name.

    ``dtype``/``channels``: the pixel layout (a row holds ``width * channels`` values of ``dtype``).
    ``to_rgb``: colour meaning, or None; ``to_depth_m``: depth meaning, or None. ``from_rgb``: writes an RGB
    image in this encoding (None for depth-only encodings). ``monochrome``: the encoding keeps no colour
    (``to_rgb`` gives grey). ``rgb_tolerance``: the largest difference [8-bit levels] of
    ``to_rgb(from_rgb(rgb))`` from ``rgb`` on smooth images (gradients of a few levels per pixel; 0: lossless,
    chroma subsampling and demosaicing are not).
    """

    name: str
    dtype: np.dtype
    channels: int
    to_rgb: ToRgb | None = None
    to_depth_m: ToDepth | None = None
    from_rgb: FromRgb | None = None
    monochrome: bool = False
    rgb_tolerance: int = 0

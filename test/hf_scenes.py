"""The test image of the tiny Hugging Face estimators (depth_anything, depth_pro, marigold), shared by their
unit and node tests."""

from __future__ import annotations

import numpy as np

W, H = 64, 48  # not multiples of 14: the processors resize, the output comes back at the image size


def gradient_rgb(width: int = W, height: int = H) -> np.ndarray:
    """(height, width, 3) uint8 RGB: colour gradients with a red box at rows 10-29, columns 20-39."""
    v, u = np.mgrid[0:height, 0:width]
    image = np.stack([u * 4, v * 5, 255 - u * 3], axis=-1).astype(np.uint8)
    image[10:30, 20:40] = (200, 30, 30)
    return image

"""Error hierarchy of lingbot_depth_ros.

Every error the package raises on purpose derives from :class:`LingbotDepthError`, so callers can
catch the package's errors without catching programming errors. Input errors also derive from
``ValueError`` so generic code that expects ``ValueError`` for bad arguments keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingbot_depth_ros.geometry.scale_alignment import AlignmentResult


class LingbotDepthError(Exception):
    """Base class of all errors raised by lingbot_depth_ros."""


class InputError(LingbotDepthError, ValueError):
    """Input data (an image, a depth map, intrinsics, a message) is malformed or inconsistent."""


class AlignmentRejected(InputError):
    """A fit of the prediction to sparse depth was made but is not trusted: its scale is <= 0 (the prediction
    runs against the sparse depth) or too few sparse points agree with it (share or count below the minimum).

    ``reason``: ``"scale_not_positive"``, ``"few_inliers"`` or ``"low_inlier_share"``; ``fit``: the rejected
    :class:`~lingbot_depth_ros.geometry.scale_alignment.AlignmentResult` (None where not known).
    """

    def __init__(self, message: str, reason: str, fit: AlignmentResult | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.fit = fit

    def __reduce__(self) -> tuple[type[AlignmentRejected], tuple[str, str, AlignmentResult | None]]:
        return type(self), (str(self), self.reason, self.fit)  # picklable (Ray, process pools) with its fields


class EncodingError(InputError):
    """An image or point-cloud encoding is unsupported or its buffer does not match its header."""


class ConfigError(LingbotDepthError, ValueError):
    """A parameter or configuration value is invalid (bad range, unknown name, impossible mode)."""


class CheckpointError(LingbotDepthError):
    """A model checkpoint is missing, unreadable, unsafe, or does not match the architecture."""


class EstimatorError(LingbotDepthError):
    """An estimator failed while running on valid input (e.g. out of device memory)."""


class EstimatorOutOfMemory(EstimatorError):
    """The estimator ran out of device memory (e.g. CUDA OOM); a smaller input budget may succeed."""

"""Error hierarchy of lingbot_depth_ros.

Every error the package raises on purpose derives from :class:`LingbotDepthError`, so callers can
catch the package's errors without catching programming errors. Input errors also derive from
``ValueError`` so generic code that expects ``ValueError`` for bad arguments keeps working.
"""

from __future__ import annotations


class LingbotDepthError(Exception):
    """Base class of all errors raised by lingbot_depth_ros."""


class InputError(LingbotDepthError, ValueError):
    """Input data (an image, a depth map, intrinsics, a message) is malformed or inconsistent."""


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

"""The one small interface every depth estimator implements.

An estimator turns an RGB image (and, in completion mode, a sparse metric depth map) into a dense
metric depth map. It knows nothing about ROS: the node converts messages to numpy and back.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TypeGuard

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators.options import node_params, resolve_options
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import CloudPoints
from lingbot_depth_ros.param_spec import ParamSpec

if TYPE_CHECKING:
    from lingbot_depth_ros.model.device_cloud import CloudRequest

COMPLETION = "completion"
MONOCULAR = "monocular"
AUTO = "auto"
MODES = (COMPLETION, MONOCULAR, AUTO)

# What ``DepthEstimate.depth_m`` holds (``DepthEstimator.output_kind``):
METRIC = "metric"                          # depth along the optical axis [m]
RELATIVE_DEPTH = "relative_depth"          # a * depth_m + b for unknown a > 0, b (affine-invariant depth)
RELATIVE_DISPARITY = "relative_disparity"  # a / depth_m + b for unknown a > 0, b (affine-invariant inverse depth)
OUTPUT_KINDS = (METRIC, RELATIVE_DEPTH, RELATIVE_DISPARITY)


@dataclass
class DepthEstimate:
    """Output of an estimator.

    ``depth_m``: (H, W) float32 depth along the optical axis [m] (for a relative estimator, see
    ``DepthEstimator.output_kind``: relative depth or disparity, arbitrary units); values where ``valid``
    is False are unspecified (the node writes NaN there). ``valid``: (H, W) bool.
    ``estimated_focal_px``: the estimator's own estimate of the horizontal focal length of this image
    [px] (Depth Pro's field-of-view head), None when it made none. ``focal_from_estimate``: True when
    the metric scale of ``depth_m`` rests on that estimate rather than on the given intrinsics.
    ``cloud``: the cloud of the published depth when the estimator made it on its device (LingBot-Depth
    asked with a ``CloudRequest``), else None (the pipeline back-projects on the host).
    ``cues``: the estimator's own per-pixel confidence cues, (H, W) arrays by name (:data:`CUE_NAMES`), for
    ``lingbot_depth_ros.confidence``; estimators fill in what they have, cheap ones always, costly ones only
    when :attr:`DepthEstimator.confidence_cues` is True.
    """

    depth_m: np.ndarray
    valid: np.ndarray
    estimated_focal_px: float | None = None
    focal_from_estimate: bool = False
    cloud: CloudPoints | None = None
    cues: dict[str, np.ndarray] = field(default_factory=dict)


#: ``DepthEstimate.cues`` an estimator may fill in: (H, W) float ``sparse_input`` (the sparse depth [m] it was
#: given: set for every completion by :meth:`DepthEstimator.estimate` / ``estimate_batch``), (H, W) bool
#: ``samples`` (the sparse samples the output was completed from) and ``dropped_samples`` (samples it discarded
#: as occluded: classical's occlusion filter), (H, W) float32 ``mask_prob`` (LingBot-Depth's mask-head
#: probability of a valid pixel, 0..1) and ``spread`` (Marigold's ensemble standard deviation, in the units of
#: ``depth_m``)
CUE_NAMES = ("sparse_input", "samples", "dropped_samples", "mask_prob", "spread")


class EstimatorInput(NamedTuple):
    """One frame of a batch (:meth:`DepthEstimator.estimate_batch`): the arguments of
    :meth:`DepthEstimator.estimate`, in order: (H, W, 3) uint8 ``rgb``, (H, W) float32 ``sparse_depth_m`` [m]
    or None (monocular), and the intrinsics of ``rgb`` (or None). A plain 3-tuple works as well."""

    rgb: np.ndarray
    sparse_depth_m: np.ndarray | None
    intrinsics: CameraIntrinsics | None


class DepthEstimator(abc.ABC):
    """Base class: validates inputs once, then calls :meth:`_estimate`.

    Subclasses set ``name``, ``supported_modes`` (and ``output_kind`` when the output is not metric)
    and implement ``_estimate``. A registered estimator (``estimators/registry.py``) also sets ``summary``,
    ``options`` (its option table: node parameters ``<name>.<option>``, CLI flags ``--<option>``, constructor
    keywords; the constructor fills and checks them with :meth:`resolve_options`), ``live_options`` and
    ``requires``.

    ``output_kind`` says what ``DepthEstimate.depth_m`` holds: ``"metric"`` (metres),
    ``"relative_depth"`` (affine in depth) or ``"relative_disparity"`` (affine in inverse depth). A relative
    output is in arbitrary units: it must be aligned to metric measurements before anyone calls it metres
    (``geometry.scale_alignment``). An estimator whose kind depends on the loaded checkpoint sets it on the
    instance after loading.
    """

    name: ClassVar[str] = "base"
    supported_modes: ClassVar[frozenset[str]] = frozenset()
    # Class default; an estimator whose kind depends on its checkpoint overrides it on the instance.
    output_kind: str = METRIC
    #: True when the estimator can estimate the focal length itself (then intrinsics may be None)
    estimates_focal: ClassVar[bool] = False
    #: True for a learned model (weights): its output's metric scale can drift from the LiDAR, so the node's LiDAR
    #: agreement guard checks it (pipeline/lidar_guard.py); weight-free completion interpolates the LiDAR itself
    learned: ClassVar[bool] = False
    #: a few words for the node's ``estimator`` parameter description, e.g. "nearest-neighbour fill baseline"
    summary: ClassVar[str] = ""
    #: the option table, names without the ``<name>.`` prefix; ``read_only`` options need a node restart
    options: ClassVar[tuple[ParamSpec, ...]] = ()
    #: options a running estimator takes by attribute assignment (``estimator.<option> = value``); the node
    #: rebuilds the estimator when any other (not read-only) option changes
    live_options: ClassVar[frozenset[str]] = frozenset()
    #: import names of the optional packages the estimator needs (checked before it is built, one-line error)
    requires: ClassVar[tuple[str, ...]] = ()
    #: set True (instance attribute) to have the estimator fill in the confidence cues that cost time or
    #: transfers (LingBot-Depth's mask probability); cheap cues are filled in regardless
    confidence_cues: bool = False

    @classmethod
    def node_params(cls) -> tuple[ParamSpec, ...]:
        """The node parameters of :attr:`options` (``<name>.<option>``)."""
        return node_params(cls.name, cls.options)

    @classmethod
    def option_default(cls, option: str) -> Any:
        """The default of ``option`` in :attr:`options` (KeyError: no such option)."""
        for spec in cls.options:
            if spec.name == option:
                return spec.default
        raise KeyError(f"estimator '{cls.name}' has no option '{option}'")

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every option of :attr:`options`: the given value (checked) or the table's default; see
        :func:`lingbot_depth_ros.estimators.options.resolve_options` (ConfigError naming ``<name>.<option>``)."""
        return resolve_options(cls.name, cls.options, given)

    def estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                 intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        """Estimate dense depth.

        Args:
            rgb: (H, W, 3) uint8 RGB image.
            sparse_depth_m: (H, W) float32 sparse depth [m], 0 or NaN where there is no
                measurement; None in monocular mode.
            intrinsics: camera intrinsics of ``rgb`` (may be None for estimators that do not
                need them).

        Returns:
            DepthEstimate with (H, W) float32 ``depth_m`` [m] and (H, W) bool ``valid``.

        Raises:
            InputError: malformed input or a mode this estimator cannot do.
        """
        validate_rgb(rgb)
        if sparse_depth_m is None:
            if MONOCULAR not in self.supported_modes:
                raise InputError(f"estimator '{self.name}' needs sparse depth (supports: "
                                 f"{', '.join(sorted(self.supported_modes))})")
        else:
            validate_sparse(sparse_depth_m, rgb.shape[:2])
            if COMPLETION not in self.supported_modes:
                raise InputError(f"estimator '{self.name}' does not take sparse depth")
        if intrinsics is not None and (intrinsics.width, intrinsics.height) != (rgb.shape[1], rgb.shape[0]):
            raise InputError(f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the image is "
                             f"{rgb.shape[1]}x{rgb.shape[0]}")
        result = self._estimate(rgb, sparse_depth_m, intrinsics)
        if sparse_depth_m is not None:  # what the output was completed from (the confidence's LiDAR support)
            result.cues.setdefault("sparse_input", sparse_depth_m)
        return result

    @abc.abstractmethod
    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        """Estimate dense depth from already-validated inputs (see :meth:`estimate`)."""

    def estimate_batch(self, frames: Sequence[EstimatorInput]) -> list[DepthEstimate]:
        """Estimate several frames (e.g. one per camera) at once; one DepthEstimate per frame, in order.

        Frames may differ in size and mode. This default runs :meth:`estimate` once per frame; an
        estimator with a batched forward (LingBot-Depth) overrides it. Raises like :meth:`estimate`
        (the first failing frame fails the call; the node then retries frame by frame).
        """
        return [self.estimate(*frame) for frame in frames]

    def describe(self) -> str:
        """One line for logs and diagnostics (estimator, device...)."""
        return self.name


class LevelledEstimator(Protocol):
    """An estimator whose token-budget level is in use and settable between frames (LingBot-Depth on torch):
    the node's rate governor and its out-of-memory step move ``resolution_level`` (see :func:`has_resolution_level`)."""

    resolution_level: int


def has_resolution_level(estimator: object) -> TypeGuard[LevelledEstimator]:
    """True when ``estimator`` has a ``resolution_level`` in use now (not None, e.g. not a fixed-level engine)."""
    return getattr(estimator, "resolution_level", None) is not None


class DeviceCloudEstimator(Protocol):
    """An estimator that makes each frame's cloud on its device when asked (LingBot-Depth: class attribute
    ``device_cloud = True``; see :func:`makes_device_cloud`)."""

    def estimate_batch(self, frames: Sequence[EstimatorInput], cloud: CloudRequest | None = None
                       ) -> list[DepthEstimate]:
        """:meth:`DepthEstimator.estimate_batch`; with ``cloud``, ``DepthEstimate.cloud`` is made on the device."""
        ...


def makes_device_cloud(estimator: object) -> TypeGuard[DeviceCloudEstimator]:
    """True when ``estimator.estimate_batch(frames, cloud=CloudRequest(...))`` makes the clouds on its device."""
    return bool(getattr(estimator, "device_cloud", False))


def validate_rgb(rgb: np.ndarray) -> None:
    """Raise InputError unless ``rgb`` is a non-empty (H, W, 3) uint8 array."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise InputError(f"rgb must be an (H, W, 3) uint8 array, got shape {shape} dtype {dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"rgb image is empty ({rgb.shape[1]}x{rgb.shape[0]})")


def validate_sparse(sparse_depth_m: np.ndarray, hw: tuple[int, int]) -> None:
    """Raise InputError unless ``sparse_depth_m`` is an (H, W) float array matching ``hw``."""
    if not isinstance(sparse_depth_m, np.ndarray) or sparse_depth_m.ndim != 2 \
            or sparse_depth_m.dtype.kind != "f":
        raise InputError(f"sparse depth must be an (H, W) float array [m], got shape "
                         f"{getattr(sparse_depth_m, 'shape', None)} dtype {getattr(sparse_depth_m, 'dtype', None)}")
    if sparse_depth_m.shape != tuple(hw):
        raise InputError(f"sparse depth is {sparse_depth_m.shape[1]}x{sparse_depth_m.shape[0]} but the image is "
                         f"{hw[1]}x{hw[0]}")


def sparse_valid_mask(sparse_depth_m: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels carrying a measurement (finite and > 0)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(sparse_depth_m) & (sparse_depth_m > 0)

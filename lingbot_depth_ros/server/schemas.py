"""Request and response bodies of the HTTP API (pydantic), with the field docs shown at /docs.

The field names and meanings are the contract existing clients use; fields added here beyond it
(``mode``, ``intrinsics``...) are extra information that old clients simply ignore.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, get_args

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lingbot_depth_ros.server.codec import b64encode_bytes, encode_png_rgb

# Generous but finite bounds: anything outside them is a unit or sign mistake, not a camera.
MAX_FOCAL_PX = 1.0e7
MAX_PRINCIPAL_PX = 1.0e7

Mode = Literal["monocular", "completion"]
AlignmentSpace = Literal["depth", "inverse_depth"]
FocalSource = Literal["camera_info", "estimated", "assumed"]
OutputKind = Literal["metric", "relative_depth", "relative_disparity"]
RejectionReason = Literal["scale_not_positive", "few_inliers", "low_inlier_share"]
MODES: tuple[Mode, ...] = get_args(Mode)
ALIGNMENT_SPACES: tuple[AlignmentSpace, ...] = get_args(AlignmentSpace)
FOCAL_SOURCES: tuple[FocalSource, ...] = get_args(FocalSource)
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)
REJECTION_REASONS: tuple[RejectionReason, ...] = get_args(RejectionReason)

_Choice = TypeVar("_Choice", bound=str)


def one_of(value: str, choices: tuple[_Choice, ...]) -> _Choice:
    """``value`` as the one of ``choices`` (a Literal's values) it equals; ValueError when it is none of them
    (what validating the response field would raise)."""
    for choice in choices:
        if value == choice:
            return choice
    raise ValueError(f"'{value}' is not one of: {', '.join(choices)}")


FocalPx = Annotated[float, Field(gt=0, le=MAX_FOCAL_PX, allow_inf_nan=False)]
PrincipalPx = Annotated[float, Field(ge=-MAX_PRINCIPAL_PX, le=MAX_PRINCIPAL_PX, allow_inf_nan=False)]


def _example_payloads() -> tuple[str, str]:
    """A tiny (16 x 12) RGB PNG and a 16-bit sparse depth PNG [mm] for the docs and the fuzzer."""
    v, u = np.mgrid[0:12, 0:16]
    rgb = np.stack([u * 15, v * 20, np.full_like(u, 128)], axis=-1).astype(np.uint8)
    sparse_mm = np.zeros((12, 16), dtype=np.uint16)
    sparse_mm[::3, ::4] = (1500 + 100 * u[::3, ::4]).astype(np.uint16)
    ok, sparse_png = cv2.imencode(".png", sparse_mm)
    assert ok
    return b64encode_bytes(encode_png_rgb(rgb)), b64encode_bytes(sparse_png.tobytes())


EXAMPLE_IMAGE_B64, EXAMPLE_SPARSE_B64 = _example_payloads()


class CameraIntrinsicsIn(BaseModel):
    """Pinhole intrinsics of the request image [px], pixel centres at integer coordinates."""

    fx: FocalPx = Field(description="focal length along x [px], > 0")
    fy: FocalPx = Field(description="focal length along y [px], > 0")
    cx: PrincipalPx = Field(description="principal point x [px]")
    cy: PrincipalPx = Field(description="principal point y [px]")


class PredictRequest(BaseModel):
    """One image (and optional sparse metric depth) to turn into dense metric depth."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"image": EXAMPLE_IMAGE_B64, "mode": "completion", "sparse_depth": EXAMPLE_SPARSE_B64,
         "camera_intrinsics": {"fx": 14.0, "fy": 14.0, "cx": 7.5, "cy": 5.5}},
    ]})

    image: str = Field(min_length=1, description="base64 of a PNG/JPEG/BMP/WebP/TIFF colour or grey image "
                                                 "(a data: URL prefix is accepted)")
    mode: Mode | None = Field(
        default=None, description="monocular: image only; completion: densify sparse_depth. Default: the "
                                  "server's default mode, else completion when sparse_depth is sent")
    sparse_depth: str | None = Field(
        default=None, description="base64 sparse metric depth of the same size as the image: a 16-bit PNG in "
                                  "millimetres, a float32 TIFF in metres or a float .npy in metres; 0/NaN = "
                                  "no measurement. 8-bit images are refused (no metric scale).")
    camera_intrinsics: CameraIntrinsicsIn | None = Field(
        default=None, description="intrinsics of the image; when absent the server assumes a centred principal "
                                  "point and takes the focal length from the estimator's own estimate when it "
                                  "makes one (depth_pro), else assumes it equal to the longer image side "
                                  "(either way reported back: focal_px, focal_source)")
    align: Literal["auto", "off", "scale", "scale_shift"] = Field(
        default="auto", description="robust fit of the prediction to sparse_depth (scale or scale + shift; the "
                                    "sparse depth then serves the fit, in monocular mode only the fit). auto: "
                                    "scale_shift when the estimator's output is relative (a relative output is "
                                    "never returned as metres unaligned: it needs sparse_depth), else off")
    confidence: bool = Field(default=False, description="also return the per-pixel confidence (confidence_npy: the "
                                                        "probability that the depth is within max(0.10 m, 5 %) of "
                                                        "the truth)")
    guard: Literal["off", "warn", "rescale", "drop"] = Field(
        default="warn", description="LiDAR agreement guard (a learned estimator with sparse_depth; README 'LiDAR "
                                    "agreement guard'): 5 % of the sparse samples are withheld from the model and "
                                    "the depth is compared with them (lidar_agreement). warn: reported only; "
                                    "rescale: a disagreeing depth is divided by its robust scale depth/LiDAR; drop: "
                                    "a disagreeing depth is refused (422); off: no guard")
    surfaces: bool = Field(default=False, description="also return the planar surfaces of the depth (surfaces: "
                                                      "schema lingbot_depth_ros/surfaces v1, docs/surfaces.md)")
    obstacles: bool = Field(default=False, description="also return the obstacle-sector report (obstacles: the "
                                                       "node's obstacles/recommendation schema); needs "
                                                       "camera_height_m")
    camera_height_m: float | None = Field(
        default=None, gt=0, le=100, allow_inf_nan=False,
        description="camera height above the floor [m] for surfaces/obstacles (frame base_link: x forward, z up, "
                    "floor at z = 0); surfaces without it: heights above the lowest horizontal surface")
    camera_pitch_deg: float = Field(default=0.0, ge=-90, le=90, allow_inf_nan=False,
                                    description="camera pitch [deg], > 0 looks down")
    camera_roll_deg: float = Field(default=0.0, ge=-180, le=180, allow_inf_nan=False,
                                   description="camera roll [deg] about the viewing direction, > 0 raises the "
                                               "image's left edge")


class AlignmentOut(BaseModel):
    """The fit of the prediction to the request's sparse depth."""

    space: AlignmentSpace = Field(description="depth: aligned = scale * pred + shift; "
                                                                 "inverse_depth: aligned = 1 / (scale * pred + shift)")
    scale: float
    shift: float
    inlier_ratio: float = Field(description="share of the sparse points within the inlier threshold of the fit")
    num_points: int = Field(description="sparse points with a prediction, used for the fit")


class LidarAgreementOut(BaseModel):
    """How the depth agrees with the sparse samples it was compared with (the LiDAR agreement guard)."""

    verdict: Literal["agree", "disagree", "not_enough_samples"] = Field(
        description="disagree: median_rel_error above the guard's max_rel_error (0.15); not_enough_samples: fewer "
                    "than min_samples (20) samples, no figures")
    reference: Literal["held_out", "seen", "unseen"] = Field(
        description="the samples compared: held out from the model, seen by it, or all (the model used none)")
    samples: int = Field(description="samples where the depth is valid")
    min_samples: int
    median_rel_error: float | None = Field(default=None, description="median |depth - sample| / sample")
    within_5pct: float | None = Field(default=None, description="share of the samples within 5 %")
    scale: float | None = Field(default=None, description="robust scale depth / sample (RANSAC, at least half of "
                                                          "the samples agree on it); null: none")
    scale_inlier_share: float | None = None
    diagnosis: str = Field(description="one line: the likely cause of a disagreement")
    applied_scale: float | None = Field(default=None, description="the depth was divided by this (guard rescale)")


class IntrinsicsOut(BaseModel):
    """Intrinsics the prediction used [px]."""

    fx: float
    fy: float
    cx: float
    cy: float
    assumed: bool = Field(description="true when the request had no intrinsics: principal point at the image "
                                      "centre, focal length as focal_source says")


class PredictResponse(BaseModel):
    """Dense depth and its derived products."""

    status: Literal["success"] = "success"
    depth_image: str = Field(description="base64 PNG: the depth colorized (turbo, near = red, invalid = black)")
    depth_npy: str = Field(description="base64 .npy: (H, W) float32 depth [m], NaN where invalid")
    point_cloud: str = Field(description="base64 .npy: (N, 3) float32 points [m] in the camera optical frame "
                                         "(x right, y down, z forward), one per valid pixel in row-major order")
    confidence_npy: str | None = Field(
        default=None, description="base64 .npy: (H, W) float32 per-pixel confidence, 0..1, NaN exactly where depth_npy "
                                  "is NaN: the probability that the pixel's depth is within max(0.10 m, 5 % of the "
                                  "true depth) of the true depth (README 'Per-pixel confidence'); null unless the "
                                  "request asked for confidence")
    depth_range: tuple[float, float] | None = Field(description="[min, max] of the valid depths [m]; null when "
                                                                "no pixel is valid")
    mode: Mode
    estimator: str
    width: int
    height: int
    num_points: int
    intrinsics: IntrinsicsOut
    inference_s: float = Field(description="time spent in the estimator [s]")
    focal_px: float = Field(description="horizontal focal length [px] the metric depth scale rests on")
    focal_source: FocalSource = Field(
        description="camera_info: the request's camera_intrinsics; estimated: the estimator's own estimate "
                    "(depth_pro: its field-of-view head); assumed: longer image side (no intrinsics sent and the "
                    "estimator cannot estimate them)")
    estimated_focal_px: float | None = Field(
        default=None, description="the estimator's own focal-length estimate [px], also when the request's "
                                  "intrinsics were used (compare: a calibration check); null when it makes none")
    output_kind: OutputKind = Field(
        default="metric", description="what the estimator itself outputs; a relative output is returned only "
                                      "aligned to the sparse depth (alignment), so depth_npy is always metres")
    alignment: AlignmentOut | None = Field(default=None, description="the fit applied (align), null when none")
    lidar_agreement: LidarAgreementOut | None = Field(
        default=None, description="the LiDAR agreement guard's figures (request guard); null when not guarded "
                                  "(no sparse_depth, a weight-free estimator such as classical, or guard off)")
    surfaces: dict[str, Any] | None = Field(
        default=None, description="planar surfaces (request surfaces: true): JSON schema lingbot_depth_ros/surfaces "
                                  "v1 (docs/surfaces.schema.json), frame base_link; null when not requested")
    obstacles: dict[str, Any] | None = Field(
        default=None, description="obstacle sectors (request obstacles: true): the node's obstacles/recommendation "
                                  "JSON (schema lingbot_depth_ros/obstacle_sectors v1); null when not requested")
    analysis_size: tuple[int, int] | None = Field(
        default=None, description="[width, height] of the depth the surfaces / obstacles were computed on: the "
                                  "image size, or every k-th pixel of every k-th row when the image has more than "
                                  "the server's max_analysis_pixels (see /health); null without analysis")


class ErrorResponse(BaseModel):
    """Any failure: the HTTP status tells the class, ``error`` the reason."""

    status: Literal["error"] = "error"
    error: str


class AlignmentRejectedResponse(ErrorResponse):
    """422 for a fit to the sparse depth that was made but refused (and the other 422s, without the extra fields)."""

    reason: RejectionReason | None = Field(
        default=None, description="why the fit was refused: its scale is <= 0 (the prediction runs against the "
                                  "sparse depth), or too few points (count / share) lie within 5 % of it")
    rejected_alignment: AlignmentOut | None = Field(default=None, description="the refused fit")


class HealthResponse(BaseModel):
    """Liveness and what this server runs."""

    status: Literal["healthy"] = "healthy"
    model: str = Field(description="the estimator's own description (name, checkpoint...)")
    estimator: str
    device: str
    modes: list[str] = Field(description="modes this server's estimator can run")
    estimates_focal: bool = Field(default=False, description="the estimator estimates the focal length itself "
                                                             "(camera_intrinsics optional without loss of scale)")
    output_kind: str = Field(default="metric", description="metric, relative_depth or relative_disparity: a "
                                                           "relative estimator needs sparse_depth in every request "
                                                           "(its output is aligned to it)")
    default_mode: str | None
    max_pixels: int
    max_body_bytes: int
    max_inflight_bytes: int = Field(description="request-body bytes all requests in progress may hold together; "
                                                "beyond it requests answer 503 with Retry-After")
    max_analysis_pixels: int = Field(description="surfaces / obstacles of larger images run on their depth "
                                                 "decimated to at most this many pixels (analysis_size)")

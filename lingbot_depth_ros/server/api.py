"""HTTP API (FastAPI): ``POST /predict``, ``GET /health``, OpenAPI docs at ``/docs``.

One estimator instance serves every request; requests run one at a time (a lock around decode,
estimate and encode), which bounds memory and keeps GPU use safe. Request bodies are read under
the limits of :mod:`lingbot_depth_ros.server.limits` (size, in-flight bytes, timeouts) before a
request waits for that lock. Every failure answers ``{"status": "error", "error": "..."}`` with a
meaningful HTTP status:

- 400 malformed payload (base64, image, .npy, mode / sparse-depth mismatch, sizes that disagree)
- 408 the request body did not arrive within the body timeout (the connection is closed)
- 413 body, payload or pixel count over the configured limits
- 422 schema violation, a mode this server's estimator cannot run, or a fit to the sparse depth that was
  refused (scale <= 0 or too few inliers: ``reason`` and ``rejected_alignment`` say which and what)
- 503 with ``Retry-After``: overloaded ("server busy: ...": bodies in progress would exceed the in-flight
  budget, or too many connections are open); retry after that many seconds
- 503 without ``Retry-After``: the estimator failed on valid input ("the estimator failed: ...", e.g. out of
  device memory)

The model lock is held for decoding and the forward pass only: surfaces / obstacles (on the depth decimated
to at most ``max_analysis_pixels``, one analysis at a time) and the encoding of the answer run after it, while
the model serves the next request. At most two requests hold decoded images and results at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import lingbot_depth_ros
from lingbot_depth_ros.errors import ConfigError, EstimatorError, InputError, LingbotDepthError
from lingbot_depth_ros.estimators import COMPLETION, MONOCULAR, DepthEstimator, create_estimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.scale_alignment import AlignmentRejected, AlignmentResult
from lingbot_depth_ros.pipeline.analysis import AnalysisRequest, analyse, decimate_for_analysis
from lingbot_depth_ros.pipeline.lidar_guard import GuardSettings, LidarAgreement, LidarDisagreement
from lingbot_depth_ros.pipeline.prediction import Prediction, predict_depth, resolve_align, resolve_mode
from lingbot_depth_ros.server.codec import (
    PayloadTooLargeError,
    b64decode_field,
    b64encode_bytes,
    decode_rgb_image,
    decode_sparse_depth,
    encode_npy,
    encode_png_rgb,
)
from lingbot_depth_ros.server.docs import install_docs
from lingbot_depth_ros.server.limits import RequestLimitsMiddleware, limited_h11_protocol
from lingbot_depth_ros.server.schemas import (
    ALIGNMENT_SPACES,
    FOCAL_SOURCES,
    MODES,
    OUTPUT_KINDS,
    REJECTION_REASONS,
    AlignmentOut,
    AlignmentRejectedResponse,
    ErrorResponse,
    HealthResponse,
    IntrinsicsOut,
    LidarAgreementOut,
    PredictRequest,
    PredictResponse,
    one_of,
)

LOG = logging.getLogger("lingbot_depth_ros.server")
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed payload or inconsistent request"},
    408: {"model": ErrorResponse, "description": "request body not received within the body timeout"},
    413: {"model": ErrorResponse, "description": "body, payload or image over the configured limits"},
    422: {"model": AlignmentRejectedResponse, "description": "schema violation, a mode this server cannot run, or "
                                                             "the fit to the sparse depth was refused, or the "
                                                             "depth disagrees with the sparse depth (guard drop)"},
    500: {"model": ErrorResponse, "description": "unexpected server fault"},
    503: {"model": ErrorResponse, "description": "with Retry-After: server busy (in-flight body budget or "
                                                 "connection cap), retry then; without: the estimator failed on "
                                                 "valid input"},
}
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_ANALYSIS_PIXELS = 1280 * 1024  # surfaces/obstacles of larger images run on decimated depth
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 60.0
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_KEEP_ALIVE_S = 5
DEFAULT_MAX_CONNECTIONS = 64
MAX_HEADER_BYTES = 16 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=ErrorResponse(error=message).model_dump())


def _validation_message(exc: RequestValidationError) -> str:
    """Short, value-free summary of pydantic errors (never echoes the multi-megabyte payload)."""
    parts = []
    for error in exc.errors()[:10]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(PayloadTooLargeError)
    async def _on_too_large(_: Request, exc: PayloadTooLargeError) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(LidarDisagreement)
    async def _on_lidar_disagreement(_: Request, exc: LidarDisagreement) -> JSONResponse:
        return _error(422, str(exc))  # guard drop: a well-formed request whose depth is refused

    @app.exception_handler(InputError)
    async def _on_input(_: Request, exc: InputError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(AlignmentRejected)
    async def _on_alignment_rejected(_: Request, exc: AlignmentRejected) -> JSONResponse:
        fit = exc.fit
        body = AlignmentRejectedResponse(error=str(exc), reason=one_of(exc.reason, REJECTION_REASONS),
                                         rejected_alignment=None if fit is None else _alignment_out(fit))
        return JSONResponse(status_code=422, content=body.model_dump())

    @app.exception_handler(ConfigError)
    async def _on_config(_: Request, exc: ConfigError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(LingbotDepthError)
    async def _on_estimator(_: Request, exc: LingbotDepthError) -> JSONResponse:
        LOG.error("estimator failure: %s", exc)
        return _error(503, f"the estimator failed: {exc}")

    @app.exception_handler(Exception)
    async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        LOG.exception("unexpected error")
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")


def estimator_device(estimator: DepthEstimator) -> str:
    """The device an estimator runs on ("cpu" for the weight-free ones)."""
    device = getattr(estimator, "device", None)
    if device is None:  # the lingbot estimator keeps its device on its model
        device = getattr(getattr(estimator, "model", None), "device", None)
    return str(device) if device is not None else "cpu"


def create_app(estimator: DepthEstimator, *, default_mode: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_inflight_bytes: int | None = None, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
               max_analysis_pixels: int = DEFAULT_MAX_ANALYSIS_PIXELS) -> FastAPI:
    """Build the API around one ready estimator.

    Args:
        estimator: the model every request uses (see ``create_estimator``).
        default_mode: "monocular" | "completion" for requests that name no mode; None = infer from
            whether sparse depth was sent.
        max_pixels: largest accepted image (width x height); larger answers 413.
        max_body_bytes: largest accepted request body [bytes]; larger answers 413.
        max_inflight_bytes: request-body bytes all requests in progress may hold together [bytes];
            a body that does not fit answers 503 with Retry-After. None = 2 x ``max_body_bytes``.
        body_timeout_s: a request body must arrive within this time [s], else 408 and the
            connection is closed.
        max_analysis_pixels: surfaces / obstacles of a larger depth map run on every k-th pixel of every
            k-th row, k the smallest integer leaving at most this many pixels (``analysis_size`` says).

    Raises:
        ConfigError: an unknown default mode, non-positive limits, or an in-flight budget smaller
            than one body.
    """
    if default_mode not in (None, MONOCULAR, COMPLETION):
        raise ConfigError(f"default mode must be monocular, completion or None, got {default_mode!r}")
    if max_inflight_bytes is None:
        max_inflight_bytes = 2 * max_body_bytes
    if min(max_pixels, max_body_bytes, max_analysis_pixels) <= 0 or not body_timeout_s > 0:
        raise ConfigError("max_pixels, max_body_bytes, max_analysis_pixels and body_timeout_s must be > 0")
    if max_inflight_bytes < max_body_bytes:
        raise ConfigError(f"the in-flight budget ({max_inflight_bytes} bytes) must hold at least one body of the "
                          f"largest accepted size ({max_body_bytes} bytes)")
    app = FastAPI(title="LingBot-Depth API", version=lingbot_depth_ros.__version__,
                  description="Dense metric depth from an RGB image and optional sparse depth "
                              f"(estimator: {estimator.name}).", docs_url=None, redoc_url=None)
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=max_body_bytes,
                       max_inflight_bytes=max_inflight_bytes, body_timeout_s=body_timeout_s)
    _install_error_handlers(app)
    if not install_docs(app):  # Swagger UI from local files, never a CDN
        LOG.warning("fastapi-offline is not installed: /docs is a plain page (schema at /openapi.json)")
    model_lock = threading.Lock()  # one model instance: one forward at a time
    analysis_lock = threading.Lock()  # one surfaces / obstacles analysis at a time
    results_held = threading.BoundedSemaphore(2)  # requests with decoded images / results: analysed + in the model
    app.state.estimator = estimator

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health", response_model=HealthResponse, summary="Liveness, model and device")
    def health() -> HealthResponse:
        return HealthResponse(model=estimator.describe(), estimator=estimator.name,
                              device=estimator_device(estimator), modes=sorted(estimator.supported_modes),
                              estimates_focal=bool(estimator.estimates_focal), output_kind=estimator.output_kind,
                              default_mode=default_mode, max_pixels=max_pixels, max_body_bytes=max_body_bytes,
                              max_inflight_bytes=max_inflight_bytes, max_analysis_pixels=max_analysis_pixels)

    @app.post("/predict", response_model=PredictResponse, responses=ERROR_RESPONSES,
              summary="Dense metric depth for one image")
    def predict(body: PredictRequest) -> PredictResponse:
        with results_held:  # bounds the memory of decoded images and results
            with model_lock:
                result, analysis = _estimate(estimator, body, default_mode, max_pixels, max_body_bytes)
            return _respond(estimator, result, analysis, analysis_lock, max_analysis_pixels)

    return app


def _estimate(estimator: DepthEstimator, body: PredictRequest, default_mode: str | None, max_pixels: int,
              max_body_bytes: int) -> tuple[Prediction, AnalysisRequest]:
    """Decode the request and run the estimator: (the prediction, the analyses it asks for)."""
    has_sparse = body.sparse_depth is not None
    align = resolve_align(estimator, body.align)
    mode = resolve_mode(body.mode, has_sparse, default_mode, align=align, supported=estimator.supported_modes)
    analysis = AnalysisRequest(surfaces=body.surfaces, obstacles=body.obstacles, camera_height_m=body.camera_height_m,
                               camera_pitch_deg=body.camera_pitch_deg, camera_roll_deg=body.camera_roll_deg)
    rgb = decode_rgb_image(b64decode_field(body.image, "image", max_body_bytes), "image", max_pixels)
    height, width = rgb.shape[:2]
    sparse = None
    if body.sparse_depth is not None:
        sparse = decode_sparse_depth(b64decode_field(body.sparse_depth, "sparse_depth", max_body_bytes),
                                     "sparse_depth", max_pixels)
        if sparse.shape != (height, width):
            raise InputError(f"sparse_depth is {sparse.shape[1]}x{sparse.shape[0]} but the image is "
                             f"{width}x{height}")
    intrinsics = None
    if body.camera_intrinsics is not None:
        k = body.camera_intrinsics
        intrinsics = CameraIntrinsics(fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy, width=width, height=height)
    try:
        guard = GuardSettings(enabled=body.guard != "off", action="warn" if body.guard == "off" else body.guard)
        return predict_depth(estimator, rgb, sparse, intrinsics, mode, align, confidence=body.confidence,
                             guard=guard), analysis
    except MemoryError as exc:
        raise EstimatorError("out of memory while estimating depth") from exc


def _alignment_out(fit: AlignmentResult) -> AlignmentOut:
    return AlignmentOut(space=one_of(fit.space, ALIGNMENT_SPACES), scale=fit.scale, shift=fit.shift,
                        inlier_ratio=fit.inlier_ratio, num_points=fit.n_points)


def _agreement_out(agreement: LidarAgreement) -> LidarAgreementOut:
    return LidarAgreementOut.model_validate(agreement.as_dict())


def _respond(estimator: DepthEstimator, result: Prediction, analysis: AnalysisRequest, analysis_lock: threading.Lock,
             max_analysis_pixels: int) -> PredictResponse:
    """The requested analyses (under ``analysis_lock``, on depth decimated to at most ``max_analysis_pixels``)
    and the encoded answer."""
    used = result.intrinsics
    height, width = result.depth_m.shape
    reports: dict[str, dict[str, Any]] = {}
    analysis_size = None
    if analysis.wanted:
        depth_m, k, _ = decimate_for_analysis(result.depth_m, used, max_analysis_pixels)
        with analysis_lock:
            reports = analyse(depth_m, k, analysis)
        analysis_size = (k.width, k.height)
    return PredictResponse(
        depth_image=b64encode_bytes(encode_png_rgb(result.colorized)),
        depth_npy=b64encode_bytes(encode_npy(result.depth_m)),
        point_cloud=b64encode_bytes(encode_npy(result.points_xyz)),
        confidence_npy=None if result.confidence is None else b64encode_bytes(encode_npy(result.confidence)),
        depth_range=result.depth_range_m, mode=one_of(result.mode, MODES), estimator=estimator.name, width=width,
        height=height, num_points=int(result.points_xyz.shape[0]),
        intrinsics=IntrinsicsOut(fx=used.fx, fy=used.fy, cx=used.cx, cy=used.cy, assumed=result.intrinsics_assumed),
        inference_s=result.elapsed_s, focal_px=result.focal_px,
        focal_source=one_of(result.focal_source, FOCAL_SOURCES), estimated_focal_px=result.estimated_focal_px,
        output_kind=one_of(result.output_kind, OUTPUT_KINDS),
        alignment=None if result.alignment is None else _alignment_out(result.alignment),
        lidar_agreement=None if result.lidar_agreement is None else _agreement_out(result.lidar_agreement),
        surfaces=reports.get("surfaces"), obstacles=reports.get("obstacles"), analysis_size=analysis_size)


def run_server(*, host: str, port: int, estimator_name: str, estimator_options: dict[str, object],
               default_mode: str | None, max_pixels: int, max_body_bytes: int, log_level: str = "info",
               max_inflight_bytes: int | None = None, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
               header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
               max_connections: int = DEFAULT_MAX_CONNECTIONS,
               max_analysis_pixels: int = DEFAULT_MAX_ANALYSIS_PIXELS) -> int:
    """Load the estimator once and serve the API with uvicorn until interrupted; returns an exit code.

    Besides :func:`create_app`'s limits: request headers must arrive within ``header_timeout_s``
    [s] of the connection opening (or of the previous response), idle keep-alive connections are
    closed after :data:`DEFAULT_KEEP_ALIVE_S`, headers are at most :data:`MAX_HEADER_BYTES` (else 431),
    beyond ``max_connections`` open connections requests answer 503 with ``Retry-After`` (JSON), and a
    connection closed while its client still sends a refused body lingers (see ``limits``).
    """
    import uvicorn

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        estimator = create_estimator(estimator_name, **estimator_options)
        if default_mode is not None and default_mode not in estimator.supported_modes:
            raise ConfigError(f"--mode-default {default_mode}: estimator '{estimator.name}' supports only "
                              f"{', '.join(sorted(estimator.supported_modes))}")
        if not header_timeout_s > 0 or max_connections <= 0:
            raise ConfigError("header_timeout_s and max_connections must be > 0")
        app = create_app(estimator, default_mode=default_mode, max_pixels=max_pixels,
                         max_body_bytes=max_body_bytes, max_inflight_bytes=max_inflight_bytes,
                         body_timeout_s=body_timeout_s, max_analysis_pixels=max_analysis_pixels)
    except LingbotDepthError as exc:
        LOG.error("cannot start the API: %s", exc)
        return 2
    LOG.info("serving %s on http://%s:%d (docs at /docs)", estimator.describe(), host, port)
    protocol = limited_h11_protocol(header_timeout_s=header_timeout_s, max_connections=max_connections,
                                    linger_s=body_timeout_s)
    uvicorn.run(app, host=host, port=port, log_level=log_level, http=protocol, timeout_keep_alive=DEFAULT_KEEP_ALIVE_S,
                h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    return 0

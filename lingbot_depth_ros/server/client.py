"""A small Python client of the HTTP API (used by the Gradio UI; usable from scripts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import httpx
import numpy as np

from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.server.codec import b64decode_field, b64encode_bytes, decode_npy


class ApiError(LingbotDepthError):
    """The API answered an error (``status_code`` is the HTTP status, 0 when unreachable)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class ApiPrediction:
    """Decoded ``/predict`` answer.

    ``depth_m``: (H, W) float32 [m], NaN invalid. ``colorized``: (H, W, 3) uint8 RGB.
    ``points_xyz``: (N, 3) float32 [m], one per valid pixel of ``depth_m`` in row-major order.
    ``response``: the raw JSON (without the large base64 fields). ``confidence``: (H, W) float32 per-pixel
    confidence (0..1, NaN where ``depth_m`` is NaN) when asked for, else None.
    """

    depth_m: np.ndarray
    colorized: np.ndarray
    points_xyz: np.ndarray
    depth_range_m: tuple[float, float] | None
    response: dict[str, Any]
    confidence: np.ndarray | None = None


class DepthApiClient:
    """Calls ``POST /predict`` and ``GET /health`` of a running ``lingbot-depth serve``."""

    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = httpx.request(method, self.base_url + path, timeout=self.timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the depth API at {self.base_url}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            raise ApiError(response.status_code, f"the depth API answered HTTP {response.status_code} "
                                                 "without JSON") from None
        if response.status_code != 200 or payload.get("status") == "error":
            raise ApiError(response.status_code, str(payload.get("error", payload)))
        return payload

    def health(self) -> dict[str, Any]:
        """The ``/health`` answer (status, model, estimator, device, modes...)."""
        return self._request("GET", "/health")

    def predict(self, image: bytes, *, mode: str | None = None, sparse_depth: bytes | None = None,
                intrinsics: tuple[float, float, float, float] | None = None,
                confidence: bool = False) -> ApiPrediction:
        """Send an encoded image (PNG/JPEG bytes) and optional sparse depth file bytes.

        Args:
            image: encoded colour image.
            mode: "monocular", "completion" or None (server default).
            sparse_depth: a 16-bit PNG [mm], float32 TIFF [m] or .npy [m], as file bytes.
            intrinsics: (fx, fy, cx, cy) [px] or None.
            confidence: also ask for the per-pixel confidence (``ApiPrediction.confidence``).

        Raises:
            ApiError: the API refused the request (message from the server) or is unreachable.
        """
        body: dict[str, Any] = {"image": b64encode_bytes(image), "mode": mode,
                                "sparse_depth": None if sparse_depth is None else b64encode_bytes(sparse_depth),
                                "camera_intrinsics": None, "confidence": confidence}
        if intrinsics is not None:
            body["camera_intrinsics"] = dict(zip(("fx", "fy", "cx", "cy"), (float(v) for v in intrinsics)))
        payload = self._request("POST", "/predict", json=body)
        colorized_bgr = cv2.imdecode(np.frombuffer(b64decode_field(payload["depth_image"], "depth_image"),
                                                   dtype=np.uint8), cv2.IMREAD_COLOR)
        if colorized_bgr is None:
            raise ApiError(200, "the depth API sent an undecodable depth_image")
        depth = decode_npy(b64decode_field(payload["depth_npy"], "depth_npy"), "depth_npy")
        points = decode_npy(b64decode_field(payload["point_cloud"], "point_cloud"), "point_cloud")
        range_m = payload.get("depth_range")
        conf = payload.get("confidence_npy")
        meta = {k: v for k, v in payload.items()
                if k not in ("depth_image", "depth_npy", "point_cloud", "confidence_npy")}
        return ApiPrediction(depth_m=depth.astype(np.float32), colorized=cv2.cvtColor(colorized_bgr, cv2.COLOR_BGR2RGB),
                             points_xyz=points.astype(np.float32),
                             depth_range_m=None if range_m is None else (float(range_m[0]), float(range_m[1])),
                             response=meta, confidence=None if conf is None else
                             decode_npy(b64decode_field(conf, "confidence_npy"), "confidence_npy").astype(np.float32))

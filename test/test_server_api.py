"""The HTTP API over real HTTP: `lingbot-depth serve` on a loopback port, httpx as the client."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -r requirements-server.txt)")
import httpx
from server_process import running_cli

from lingbot_depth_ros.cli.main import build_parser
from lingbot_depth_ros.estimators.base import DepthEstimator
from lingbot_depth_ros.server.client import ApiError, DepthApiClient

NYU_K = (518.8579, 519.46961, 325.58245, 253.73617)
MAX_PIXELS = 400_000  # NYU frames (307,200 px) fit; 700 x 700 does not
MAX_BODY = 3_000_000  # a NYU request with a float .npy sparse map (~1.7 MB base64) fits


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def png(array: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", array)
    assert ok
    return buffer.tobytes()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def decode_npy(text: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


@pytest.fixture(scope="module")
def nyu(shared_data: Path) -> dict:
    """NYU frame 0: JPEG bytes, RGB, ground truth [m] and a 1-in-144 sparse sample of it [mm]."""
    jpeg = (shared_data / "nyu" / "rgb_00000.jpg").read_bytes()
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    gt_mm = cv2.imread(str(shared_data / "nyu" / "sync_depth_00000.png"), cv2.IMREAD_UNCHANGED)
    sparse_mm = np.zeros_like(gt_mm)
    sparse_mm[::12, ::12] = gt_mm[::12, ::12]
    return {"jpeg": jpeg, "rgb": rgb, "gt_m": gt_mm.astype(np.float32) / 1000.0, "sparse_mm": sparse_mm}


@pytest.fixture(scope="module")
def api() -> str:
    with running_cli(["serve", "--estimator", "classical", "--max-pixels", str(MAX_PIXELS),
                      "--max-body-bytes", str(MAX_BODY)], "/health") as server:
        yield server.url
    assert server.process.returncode == 0, server.log()


def post(api: str, body: dict) -> httpx.Response:
    return httpx.post(api + "/predict", json=body, timeout=60)


def completion_body(nyu: dict, **overrides: object) -> dict:
    body = {"image": b64(nyu["jpeg"]), "mode": "completion", "sparse_depth": b64(png(nyu["sparse_mm"])),
            "camera_intrinsics": dict(zip(("fx", "fy", "cx", "cy"), NYU_K))}
    body.update(overrides)
    return body


def test_health_reports_model_and_device(api: str) -> None:
    health = httpx.get(api + "/health").json()
    assert health["status"] == "healthy"
    assert health["estimator"] == "classical" and health["model"].startswith("classical")
    assert health["device"] == "cpu"
    assert health["modes"] == ["completion"]
    assert (health["max_pixels"], health["max_body_bytes"]) == (MAX_PIXELS, MAX_BODY)


def test_openapi_schema_and_docs_are_served(api: str) -> None:
    spec = httpx.get(api + "/openapi.json").json()
    assert {"/predict", "/health"} <= set(spec["paths"])
    request = spec["components"]["schemas"]["PredictRequest"]
    assert {"image", "mode", "sparse_depth", "camera_intrinsics"} <= set(request["properties"])
    responses = spec["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "422"} <= set(responses)
    docs = httpx.get(api + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert httpx.get(api + "/", follow_redirects=True).url.path == "/docs"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_this_server(api: str, page: str) -> None:
    """An offline robot gets a working docs page: no CDN, every referenced file served here."""
    html = httpx.get(api + page).text
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert len(references) >= 2, html
    external = [url for url in references if "//" in url or re.match(r"^[a-z]+:", url)]
    assert not external, f"{page} loads {external} from another host"
    for url in references:
        asset = httpx.get(api + url)
        assert asset.status_code == 200 and len(asset.content) > 1000, (url, asset.status_code)
    assert '"/openapi.json"' in html or "'/openapi.json'" in html


def test_completion_matches_ground_truth_and_contract(api: str, nyu: dict) -> None:
    response = post(api, completion_body(nyu))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "success" and answer["mode"] == "completion"
    depth = decode_npy(answer["depth_npy"])
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    valid = np.isfinite(depth)
    assert valid.mean() > 0.8
    assert answer["depth_range"] == pytest.approx([float(depth[valid].min()), float(depth[valid].max())])
    # Metric scale kept: on ground-truth pixels that were not given as input, the error is small.
    gt = nyu["gt_m"]
    held_out = (gt > 0) & valid & (nyu["sparse_mm"] == 0)
    rel = np.abs(depth[held_out] - gt[held_out]) / gt[held_out]
    assert np.median(rel) < 0.05
    # Colorized PNG of the same size.
    colour = cv2.imdecode(np.frombuffer(base64.b64decode(answer["depth_image"]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert colour.shape == (480, 640, 3) and colour.std() > 10
    # Point cloud: one point per valid pixel, row-major, back-projected with the given intrinsics.
    points = decode_npy(answer["point_cloud"])
    assert points.dtype == np.float32 and points.shape == (int(valid.sum()), 3) == (answer["num_points"], 3)
    v, u = np.nonzero(valid)
    fx, fy, cx, cy = NYU_K
    np.testing.assert_allclose(points[:, 2], depth[valid], rtol=1e-6)
    np.testing.assert_allclose(points[:, 0], (u - cx) * depth[valid] / fx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(points[:, 1], (v - cy) * depth[valid] / fy, rtol=1e-4, atol=1e-5)
    assert answer["intrinsics"] == pytest.approx({"fx": fx, "fy": fy, "cx": cx, "cy": cy, "assumed": False})


def test_sparse_npy_in_metres_equals_png_in_millimetres(api: str, nyu: dict) -> None:
    from_png = decode_npy(post(api, completion_body(nyu)).json()["depth_npy"])
    sparse_m = nyu["sparse_mm"].astype(np.float32) / 1000.0
    body = completion_body(nyu, sparse_depth=b64(npy(sparse_m)), image="data:image/jpeg;base64," + b64(nyu["jpeg"]))
    response = post(api, body)
    assert response.status_code == 200, response.text
    from_npy = decode_npy(response.json()["depth_npy"])
    np.testing.assert_allclose(from_npy, from_png, atol=1e-4, equal_nan=True)


def test_big_endian_sparse_npy_equals_native(api: str, nyu: dict) -> None:
    sparse_m = nyu["sparse_mm"].astype(np.float32) / 1000.0
    depths = []
    for dtype in ("<f4", ">f4"):
        response = post(api, completion_body(nyu, sparse_depth=b64(npy(sparse_m.astype(dtype)))))
        assert response.status_code == 200, response.text
        depths.append(decode_npy(response.json()["depth_npy"]))
    np.testing.assert_array_equal(depths[1], depths[0])


def test_sparse_float_tiff_in_metres_is_accepted(api: str, nyu: dict) -> None:
    ok, tiff = cv2.imencode(".tiff", nyu["sparse_mm"].astype(np.float32) / 1000.0)
    assert ok
    response = post(api, completion_body(nyu, sparse_depth=b64(tiff.tobytes())))
    assert response.status_code == 200, response.text
    assert 0.5 < response.json()["depth_range"][0] < response.json()["depth_range"][1] < 10


def test_missing_intrinsics_are_assumed_and_reported(api: str, nyu: dict) -> None:
    client = DepthApiClient(api)
    result = client.predict(nyu["jpeg"], sparse_depth=png(nyu["sparse_mm"]))  # mode inferred: completion
    assert result.response["mode"] == "completion"
    assert result.response["intrinsics"] == {"fx": 640.0, "fy": 640.0, "cx": 319.5, "cy": 239.5, "assumed": True}
    assert result.depth_m.shape == (480, 640) and result.colorized.shape == (480, 640, 3)
    assert result.points_xyz.shape == (int(np.isfinite(result.depth_m).sum()), 3)


def _png_with_header_size(width: int, height: int) -> bytes:
    """A real 4x4 PNG whose IHDR (with a valid CRC) claims ``width`` x ``height``: a decompression bomb."""
    raw = bytearray(png(np.zeros((4, 4, 3), np.uint8)))
    ihdr = bytearray(raw[12:29])  # b"IHDR" + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    raw[12:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(raw)


def _npy_with_header_shape(shape: tuple[int, int]) -> bytes:
    header = npy(np.zeros((2, 2), np.float32))
    return header.replace(b"(2, 2)", str(shape).encode()).split(b"\n")[0] + b"\n" + bytes(16)


def _pickled_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", rgb)[1].tobytes()


# name: (overrides of the NYU completion body, given the NYU fixture; HTTP status; fragment of the error)
ERROR_CASES = {
    "image not base64": (lambda d: {"image": "@@not base64@@"}, 400, "image: not valid base64"),
    "image not an image": (lambda d: {"image": b64(b"hello, this is text")}, 400, "not a decodable image"),
    "image truncated": (lambda d: {"image": b64(png(d["rgb"])[:2000])}, 400, "cannot be decoded"),
    "image bomb header": (lambda d: {"image": b64(_png_with_header_size(30000, 30000))}, 413, "exceeds the limit"),
    "image too many pixels": (lambda d: {"image": b64(png(np.zeros((700, 700, 3), np.uint8))),
                                         "sparse_depth": b64(png(np.ones((700, 700), np.uint16)))},
                              413, "exceeds the limit"),
    "sparse 8-bit png": (lambda d: {"sparse_depth": b64(png(np.full((480, 640), 20, np.uint8)))}, 400, "8-bit"),
    "sparse jpeg": (lambda d: {"sparse_depth": b64(_jpeg(d["rgb"]))}, 400, "cannot carry metric depth"),
    "sparse npy int": (lambda d: {"sparse_depth": b64(npy(np.ones((480, 640), np.int32)))}, 400, "float metres"),
    "sparse npy pickle": (lambda d: {"sparse_depth": b64(_pickled_npy())}, 400, "sparse_depth"),
    "sparse npy 3-d": (lambda d: {"sparse_depth": b64(npy(np.ones((48, 64, 2), np.float32)))}, 400, "(H, W)"),
    "sparse npy bomb header": (lambda d: {"sparse_depth": b64(_npy_with_header_shape((100000, 100000)))}, 413,
                               "exceeds the limit"),
    "sparse npy shorter than its header": (lambda d: {"sparse_depth": b64(_npy_with_header_shape((480, 640)))},
                                           400, "but the file holds only"),
    "sparse npy empty shape": (lambda d: {"sparse_depth": b64(npy(np.zeros((0, 640), np.float32)))}, 400,
                               "image is empty"),
    "sparse wrong size": (lambda d: {"sparse_depth": b64(npy(np.ones((240, 320), np.float32)))}, 400, "320x240"),
    "sparse all zero": (lambda d: {"sparse_depth": b64(png(np.zeros((480, 640), np.uint16)))}, 400,
                        "no valid measurement"),
    "completion without sparse": (lambda d: {"sparse_depth": None}, 400, "needs sparse depth"),
    "monocular with sparse": (lambda d: {"mode": "monocular"}, 400, "takes no sparse depth"),
    "monocular on classical": (lambda d: {"mode": "monocular", "sparse_depth": None}, 422,
                               "cannot run mode 'monocular'"),
    "unknown mode": (lambda d: {"mode": "stereo"}, 422, "mode"),
    "fx zero": (lambda d: {"camera_intrinsics": {"fx": 0, "fy": 500, "cx": 320, "cy": 240}}, 422,
                "camera_intrinsics.fx"),
    "fy negative": (lambda d: {"camera_intrinsics": {"fx": 500, "fy": -1, "cx": 320, "cy": 240}}, 422,
                    "camera_intrinsics.fy"),
    "cy missing": (lambda d: {"camera_intrinsics": {"fx": 500, "fy": 500, "cx": 320}}, 422, "camera_intrinsics.cy"),
    "image missing": (lambda d: {"image": None}, 422, "image"),
    "image empty": (lambda d: {"image": ""}, 422, "image"),
    "image a number": (lambda d: {"image": 12}, 422, "image"),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_bad_requests_get_specific_errors(api: str, nyu: dict, name: str) -> None:
    make_overrides, status, fragment = ERROR_CASES[name]
    body = completion_body(nyu, **make_overrides(nyu))
    body = {key: value for key, value in body.items() if not (key == "image" and value is None)}
    response = post(api, body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["status"] == "error" and fragment in answer["error"], answer


def test_non_finite_intrinsics_are_rejected(api: str, nyu: dict) -> None:
    body = completion_body(nyu)
    text = httpx.Request("POST", "/", json=body).content.decode().replace('"fx": 518.8579', '"fx": NaN')
    text = text.replace('"fx":518.8579', '"fx":NaN')
    assert "NaN" in text
    response = httpx.post(api + "/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "camera_intrinsics.fx" in response.json()["error"]


def test_malformed_json_and_wrong_routes(api: str) -> None:
    response = httpx.post(api + "/predict", content=b'{"image": ', headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["status"] == "error"
    assert "JSON" in response.json()["error"]
    assert httpx.get(api + "/predict").status_code == 405
    missing = httpx.get(api + "/nowhere")
    assert missing.status_code == 404 and missing.json() == {"status": "error", "error": "Not Found"}


def test_body_over_the_limit_is_refused_with_413(api: str) -> None:
    body = b'{"image": "' + b"A" * (MAX_BODY + 10) + b'"}'
    response = httpx.post(api + "/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "exceeds the limit" in response.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield b'{"image": "'
        for _ in range(8):
            yield b"A" * (MAX_BODY // 4)
        yield b'"}'

    streamed = httpx.post(api + "/predict", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "exceeds the limit" in streamed.json()["error"]


def test_concurrent_requests_are_served_one_at_a_time_with_identical_results(api: str, nyu: dict) -> None:
    body = completion_body(nyu)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: post(api, body), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    depths = [decode_npy(r.json()["depth_npy"]) for r in responses]
    for depth in depths[1:]:
        np.testing.assert_array_equal(depth, depths[0])


def test_client_reports_api_errors_and_unreachable_servers(api: str, nyu: dict) -> None:
    with pytest.raises(ApiError, match="cannot run mode 'monocular'") as info:
        DepthApiClient(api).predict(nyu["jpeg"], mode="monocular")
    assert info.value.status_code == 422
    with pytest.raises(ApiError, match="cannot reach") as info:
        DepthApiClient("http://127.0.0.1:9", timeout_s=2).health()
    assert info.value.status_code == 0


def test_serve_binds_loopback_by_default() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.mode_default) == ("127.0.0.1", 8000, "auto")
    ui = build_parser().parse_args(["ui"])
    assert (ui.host, ui.port, ui.api_url) == ("127.0.0.1", 7860, "http://127.0.0.1:8000")


def test_monocular_with_a_tiny_lingbot_checkpoint(tmp_path: Path, nyu: dict) -> None:
    testing = pytest.importorskip("lingbot_depth_ros.testing.lingbot_checkpoints", reason="torch is not installed")
    checkpoint = testing.make_tiny_checkpoint(tmp_path / "model.pt", seed=0)
    with running_cli(["serve", "--estimator", "lingbot", "--checkpoint", str(checkpoint), "--device", "cpu"],
                     "/health", timeout_s=120) as server:
        health = httpx.get(server.url + "/health").json()
        assert health["estimator"] == "lingbot" and health["device"] == "cpu"
        assert health["modes"] == ["completion", "monocular"]
        response = post(server.url, {"image": b64(nyu["jpeg"]), "mode": "monocular"})
        assert response.status_code == 200, response.text
        answer = response.json()
        depth = decode_npy(answer["depth_npy"])
        assert answer["mode"] == "monocular" and depth.shape == (480, 640)
        # The tiny model's depth head is biased to about 2 m (see model/testing.py).
        assert 1.0 < float(np.nanmedian(depth)) < 4.0
        assert answer["num_points"] == int(np.isfinite(depth).sum()) > 0


def test_serve_refuses_a_default_mode_its_estimator_cannot_run(caplog: pytest.LogCaptureFixture) -> None:
    from lingbot_depth_ros.cli.main import main

    assert main(["serve", "--estimator", "classical", "--mode-default", "monocular", "--port", "0"]) == 2
    assert "supports only completion" in caplog.text


def failing_estimator(error: Exception) -> DepthEstimator:
    """A DepthEstimator whose inference raises ``error`` (a lost device, or a plain bug)."""

    class Failing(DepthEstimator):
        name = "failing"
        supported_modes = frozenset({"completion"})

        def _estimate(self, rgb, sparse_depth_m, intrinsics):
            raise error

    return Failing()


@pytest.mark.parametrize("error, status, fragment", [
    ("EstimatorError", 503, "the estimator failed: device lost"),
    ("ZeroDivisionError", 500, "internal error (ZeroDivisionError)"),
])
def test_estimator_failures_answer_503_and_crashes_500(nyu: dict, error: str, status: int, fragment: str) -> None:
    import threading

    import uvicorn
    from server_process import free_port

    from lingbot_depth_ros.errors import EstimatorError
    from lingbot_depth_ros.server.api import create_app

    exc = EstimatorError("device lost") if error == "EstimatorError" else ZeroDivisionError("secret detail")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(failing_estimator(exc)), host="127.0.0.1", port=port,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            threading.Event().wait(0.05)
        response = post(f"http://127.0.0.1:{port}", completion_body(nyu))
        assert response.status_code == status
        answer = response.json()
        assert answer["status"] == "error" and fragment in answer["error"]
        assert "secret detail" not in answer["error"]  # no internals leak to clients
        # The server keeps serving after the failure.
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_analysis_of_a_large_image_runs_on_decimated_depth() -> None:
    """Surfaces and obstacles of a 1280 x 960 image on a server analysing at most 320 x 240 pixels: the depth is
    decimated by 4 (analysis_size says so) and the reports still measure the scene (box top height, its distance)."""
    import math

    from surface_scenes import Scene, box

    from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
    from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
    from lingbot_depth_ros.surfaces import schema_errors

    k = CameraIntrinsics(1200.0, 1200.0, 639.5, 479.5, 1280, 960)
    height_m, pitch_deg, box_top_m, box_front_m = 1.2, 22.0, 0.45, 2.7  # box 0.6 x 0.8 x 0.45 m, 3 m ahead
    depth = Scene(box((3.0, 0.0), (0.6, 0.8, box_top_m)), spheres=[], cylinders=[]).depth(
        k, camera_pose_from_mounting(height_m, math.radians(pitch_deg)), noise_rel=0.001)
    sparse = np.zeros_like(depth)
    sparse[::3, ::3] = np.nan_to_num(depth[::3, ::3])
    grey = np.clip(np.nan_to_num(depth) * 40, 0, 255).astype(np.uint8)
    body = {"image": b64(png(cv2.merge([grey, grey, grey]))), "mode": "completion",
            "sparse_depth": b64(npy(sparse.astype(np.float32))),
            "camera_intrinsics": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy},
            "surfaces": True, "obstacles": True, "camera_height_m": height_m, "camera_pitch_deg": pitch_deg}
    with running_cli(["serve", "--estimator", "classical", "--max-analysis-pixels", str(320 * 240)],
                     "/health") as server:
        assert httpx.get(server.url + "/health").json()["max_analysis_pixels"] == 320 * 240
        response = httpx.post(server.url + "/predict", json=body, timeout=120)
        assert response.status_code == 200, response.text
        plain = httpx.post(server.url + "/predict", json={**body, "surfaces": False, "obstacles": False}, timeout=120)
    answer = response.json()
    assert (answer["width"], answer["height"], answer["analysis_size"]) == (1280, 960, [320, 240])
    assert plain.json()["analysis_size"] is None
    surfaces = answer["surfaces"]
    assert schema_errors(surfaces) == []
    tops = [s for s in surfaces["surfaces"] if s["kind"] == "horizontal"]
    assert len(tops) == 1 and tops[0]["height_m"] == pytest.approx(box_top_m, abs=0.03), surfaces["surfaces"]
    assert tops[0]["centroid"][0] == pytest.approx(3.0, abs=0.15)
    center = next(s for s in answer["obstacles"]["sectors"] if s["name"] == "center")
    assert center["distance_m"] == pytest.approx(box_front_m, abs=0.15)


def test_the_model_serves_the_next_request_while_one_is_analysed(monkeypatch: pytest.MonkeyPatch, nyu: dict) -> None:
    """The model lock is released after the forward pass: while request A's surfaces are computed (held here until
    request B has been answered, at most 30 s), request B's depth is estimated and answered."""
    import threading

    import uvicorn
    from server_process import free_port
    from waiting import wait_until

    from lingbot_depth_ros.estimators import create_estimator
    from lingbot_depth_ros.server import api as api_module

    analysing, b_answered = threading.Event(), threading.Event()
    real_analyse = api_module.analyse

    def held_analyse(*args: object, **kwargs: object) -> dict:
        analysing.set()
        b_answered.wait(30)
        return real_analyse(*args, **kwargs)

    monkeypatch.setattr(api_module, "analyse", held_analyse)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api_module.create_app(create_estimator("classical")), host="127.0.0.1",
                                           port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.started, 30, "the in-process server to start")
        with ThreadPoolExecutor(max_workers=1) as pool:
            a = pool.submit(post, url, completion_body(nyu, surfaces=True))
            wait_until(analysing.is_set, 60, "request A to reach its analysis")
            b = httpx.post(url + "/predict", json=completion_body(nyu), timeout=20)
            still_analysing = not b_answered.is_set()
            b_answered.set()
            a_answer = a.result(timeout=60)
    finally:
        b_answered.set()
        server.should_exit = True
        thread.join(timeout=10)
    assert b.status_code == 200 and still_analysing, b.text
    assert a_answer.status_code == 200 and a_answer.json()["surfaces"] is not None, a_answer.text

"""Gradio web UI on port 7860 that calls the HTTP API (never the estimator directly).

Upload an image (and optionally sparse metric depth), pick a mode, optionally type intrinsics,
and get the colorized depth beside the input plus downloads: the depth as .npy [m] and the point
cloud as a binary PLY (xyz [m] + rgb). The click handler is also the UI's API endpoint
``/predict`` for ``gradio_client``.

The modes offered are those the API server's estimator runs (its ``/health``), read when the UI starts
and again when a page loads. Intrinsics fields left empty are derived from the image size: all four
empty = the server assumes them (principal point at the image centre, focal length = the longer image
side, about 53 degrees of field of view across it; an estimator that estimates the focal length uses its
estimate); some given = the others from the same defaults (fy = fx, fx = fy, cx, cy = the centre).
"""

from __future__ import annotations

import os

# Before gradio is imported: no usage analytics, no telemetry (the UI must never phone home).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import numpy as np

from lingbot_depth_ros.io.ply import write_ply
from lingbot_depth_ros.pipeline.prediction import assumed_intrinsics
from lingbot_depth_ros.server.client import ApiError, DepthApiClient
from lingbot_depth_ros.server.codec import encode_png_rgb

LOG = logging.getLogger("lingbot_depth_ros.ui")
AUTO = "auto"
ALL_MODES = ("completion", "monocular")
SPARSE_FILE_TYPES = [".png", ".npy", ".tif", ".tiff"]
INTRINSICS_HELP = ("Intrinsics [px]: leave all four empty to let the server assume them (principal point at the "
                   "image centre, focal length = the longer image side, about 53° field of view across it); "
                   "an empty field next to given ones takes the same default (fy = fx, cx, cy = image centre).")


def mode_choices(modes: list[str] | None) -> list[str]:
    """The mode choices for a server that runs ``modes`` ("auto" first when it runs several); None = unknown
    server (unreachable): every mode."""
    runnable = [m for m in ALL_MODES if modes is None or m in modes]
    if not runnable:
        runnable = list(ALL_MODES)
    return ([AUTO] if len(runnable) > 1 else []) + runnable


def _mode_info(choices: list[str]) -> str:
    if AUTO in choices:
        return "auto: completion when sparse depth is given, else monocular"
    return f"this server's estimator runs {' and '.join(choices)} only"


def _pixels(name: str, text: str | float | None) -> float | None:
    """A field's value [px]; None when empty. Text fields, not number fields: gr.Number shows 0 when empty."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = float(text)
    except ValueError:
        raise gr.Error(f"{name}: {str(text)[:40]!r} is not a number of pixels (leave it empty for the "
                       "default).") from None
    if not math.isfinite(value):
        raise gr.Error(f"{name} must be finite, got {value}.")
    return value


def _intrinsics(fx_text: str | float | None, fy_text: str | float | None, cx_text: str | float | None,
                cy_text: str | float | None, width: int, height: int) -> tuple[float, float, float, float] | None:
    """(fx, fy, cx, cy) [px] for a ``width`` x ``height`` image from the four fields, None when all are empty.

    An empty field takes its default: fy = fx or fx = fy when one focal length is given, else the focal
    length the API assumes (:func:`assumed_intrinsics`); cx, cy the image centre. 0 is never a valid
    focal length and is refused (a clear error, not a silent default).
    """
    fx, fy, cx, cy = (_pixels(name, text) for name, text in zip(("fx", "fy", "cx", "cy"),
                                                                 (fx_text, fy_text, cx_text, cy_text)))
    if all(v is None for v in (fx, fy, cx, cy)):
        return None
    for name, value in (("fx", fx), ("fy", fy)):
        if value is not None and not value > 0:
            raise gr.Error(f"{name} must be > 0 px (leave it empty for the default), got {value:g}.")
    default = assumed_intrinsics(width, height)
    fx_px = fx if fx is not None else fy if fy is not None else default.fx
    fy_px = fy if fy is not None else fx_px
    return (float(fx_px), float(fy_px), float(default.cx if cx is None else cx),
            float(default.cy if cy is None else cy))


def _confidence_text(confidence: np.ndarray | None) -> str:
    """One line about the per-pixel confidence (README "Per-pixel confidence"): its mean over the valid pixels and
    the share of them at 0.9 or more; empty without a confidence."""
    if confidence is None or not np.isfinite(confidence).any():
        return ""
    values = confidence[np.isfinite(confidence)]
    return (f"  \n**Confidence** (P(error within max(0.10 m, 5 %))): mean {values.mean():.2f} · "
            f"{100 * float(np.mean(values >= 0.9)):.0f} % of the valid pixels at 0.9 or more")


def _summary(meta: dict, range_m: tuple[float, float] | None) -> str:
    k = meta["intrinsics"]
    depth_text = f"{range_m[0]:.2f} – {range_m[1]:.2f} m" if range_m else "no valid pixel"
    source = "assumed (none given)" if k["assumed"] else "given"
    return (f"**Mode:** {meta['mode']} · **estimator:** {meta['estimator']} · **depth:** {depth_text}  \n"
            f"**Points:** {meta['num_points']:,} · **size:** {meta['width']}×{meta['height']} · "
            f"**intrinsics** {source}: fx={k['fx']:.1f} fy={k['fy']:.1f} cx={k['cx']:.1f} cy={k['cy']:.1f} · "
            f"**inference:** {meta['inference_s'] * 1000:.0f} ms")


#: the click handler's inputs (image, mode, sparse file, fx, fy, cx, cy) and outputs (depth image, npy, ply, summary)
PredictFn = Callable[[np.ndarray | None, str, str | None, str | float | None, str | float | None, str | float | None,
                      str | float | None], tuple[np.ndarray, str, str, str]]


def make_predict_fn(client: DepthApiClient) -> PredictFn:
    """The click handler: (image, mode, sparse file, fx, fy, cx, cy) -> (depth image, npy, ply, summary)."""

    def predict(image: np.ndarray | None, mode: str, sparse_file: str | None, fx: str | float | None,
                fy: str | float | None, cx: str | float | None,
                cy: str | float | None) -> tuple[np.ndarray, str, str, str]:
        if image is None:
            raise gr.Error("Upload an image first.")
        rgb = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        sparse = Path(sparse_file).read_bytes() if sparse_file else None
        intrinsics = _intrinsics(fx, fy, cx, cy, rgb.shape[1], rgb.shape[0])
        try:
            result = client.predict(encode_png_rgb(rgb), mode=None if mode == AUTO else mode,
                                    sparse_depth=sparse, intrinsics=intrinsics, confidence=True)
        except ApiError as exc:
            raise gr.Error(f"The depth API refused the request: {exc}") from exc
        out_dir = Path(tempfile.mkdtemp(prefix="lingbot_depth_ui_"))
        npy_path = out_dir / "depth_m.npy"
        np.save(npy_path, result.depth_m, allow_pickle=False)
        valid = np.isfinite(result.depth_m)
        colours = rgb[valid] if int(valid.sum()) == result.points_xyz.shape[0] else None
        ply_path = write_ply(out_dir / "points.ply", result.points_xyz, colours)
        summary = _summary(result.response, result.depth_range_m) + _confidence_text(result.confidence)
        return result.colorized, str(npy_path), str(ply_path), summary

    return predict


def _server_modes(client: DepthApiClient) -> tuple[list[str] | None, str]:
    """(the modes the API server runs, None if unreachable; one line about it for the page)."""
    try:
        health = client.health()
    except ApiError as exc:
        return None, f"⚠️ {exc}"
    return list(health["modes"]), (f"API `{client.base_url}`: **{health['estimator']}** on {health['device']} — "
                                   f"modes: {', '.join(health['modes'])}")


def make_status_fn(client: DepthApiClient) -> Callable[[], tuple[str, dict]]:
    """Page-load handler: (one line about the API server or why it cannot be reached, the mode choices it runs)."""

    def status() -> tuple[str, dict]:
        modes, line = _server_modes(client)
        choices = mode_choices(modes)
        return line, gr.update(choices=choices, value=choices[0], info=_mode_info(choices))

    return status


def build_ui(api_url: str, timeout_s: float = 120.0) -> gr.Blocks:
    """The Blocks app; every prediction goes through the HTTP API at ``api_url``."""
    client = DepthApiClient(api_url, timeout_s)
    choices = mode_choices(_server_modes(client)[0])  # refreshed on every page load
    with gr.Blocks(title="LingBot-Depth", analytics_enabled=False) as demo:
        gr.Markdown("## LingBot-Depth — dense metric depth\nUpload an RGB image and, for completion, a sparse "
                    "depth map (16-bit PNG in mm, float32 TIFF or .npy in m) of the same size.")
        server_line = gr.Markdown(elem_id="server-status")
        with gr.Row(equal_height=False):
            with gr.Column():
                image = gr.Image(label="Input image", type="numpy", image_mode="RGB", sources=["upload"],
                                 elem_id="input-image")
                sparse = gr.File(label="Sparse depth (optional)", file_types=SPARSE_FILE_TYPES,
                                 type="filepath", elem_id="sparse-depth")
                mode = gr.Radio(choices, value=choices[0], label="Mode", info=_mode_info(choices), elem_id="mode")
                gr.Markdown(INTRINSICS_HELP, elem_id="intrinsics-help")
                with gr.Row():  # empty = derived from the image size (see INTRINSICS_HELP)
                    fx = gr.Textbox(label="fx [px]", placeholder="default", min_width=80, elem_id="fx")
                    fy = gr.Textbox(label="fy [px]", placeholder="= fx", min_width=80, elem_id="fy")
                    cx = gr.Textbox(label="cx [px]", placeholder="centre", min_width=80, elem_id="cx")
                    cy = gr.Textbox(label="cy [px]", placeholder="centre", min_width=80, elem_id="cy")
                button = gr.Button("Predict depth", variant="primary", elem_id="predict-btn")
            with gr.Column():
                depth = gr.Image(label="Depth (near = red)", type="numpy", format="png", interactive=False,
                                 buttons=["download", "fullscreen"], elem_id="depth-output")
                summary = gr.Markdown(elem_id="summary")
                with gr.Row():
                    npy_file = gr.File(label="Depth .npy [m]", interactive=False, elem_id="download-npy")
                    ply_file = gr.File(label="Point cloud .ply", interactive=False, elem_id="download-ply")
        button.click(make_predict_fn(client), inputs=[image, mode, sparse, fx, fy, cx, cy],
                     outputs=[depth, npy_file, ply_file, summary], api_name="predict")
        demo.load(make_status_fn(client), inputs=None, outputs=[server_line, mode], api_name=False)
    return demo


def run_ui(*, api_url: str, host: str = "127.0.0.1", port: int = 7860, timeout_s: float = 120.0) -> int:
    """Serve the UI until interrupted (no share link, no analytics); returns an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo = build_ui(api_url, timeout_s)
    LOG.info("UI on http://%s:%d calling the API at %s", host, port, api_url)
    demo.queue(default_concurrency_limit=1).launch(server_name=host, server_port=port, share=False,
                                                   ssr_mode=False, show_error=True, inbrowser=False,
                                                   footer_links=["api"], theme=gr.themes.Default())
    return 0

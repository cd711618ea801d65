"""Gradio web UI on port 7860 that calls the HTTP API (never the estimator directly).

Upload an image (and optionally sparse metric depth), pick a mode, optionally type intrinsics,
and get the colorized depth beside the input plus downloads: the depth as .npy [m] and the point
cloud as a binary PLY (xyz [m] + rgb). The click handler is also the UI's API endpoint
``/predict`` for ``gradio_client``.
"""

from __future__ import annotations

import os

# Before gradio is imported: no usage analytics, no telemetry (the UI must never phone home).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import logging  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from lingbot_depth_ros.io.ply import write_ply  # noqa: E402
from lingbot_depth_ros.server.client import ApiError, DepthApiClient  # noqa: E402
from lingbot_depth_ros.server.codec import encode_png_rgb  # noqa: E402

LOG = logging.getLogger("lingbot_depth_ros.ui")
MODE_CHOICES = ["auto", "completion", "monocular"]
SPARSE_FILE_TYPES = [".png", ".npy", ".tif", ".tiff"]


def _intrinsics(fx: float | None, fy: float | None, cx: float | None,
                cy: float | None) -> tuple[float, float, float, float] | None:
    """(fx, fy, cx, cy) [px] from the four fields, or None when fx and fy are left empty.

    A browser sends an empty number field as 0, and 0 is never a valid focal length, so fx = fy = 0
    means "not given" (the API then assumes intrinsics and says so).
    """
    focal_given = [v not in (None, 0) for v in (fx, fy)]
    if not any(focal_given):
        if any(v not in (None, 0) for v in (cx, cy)):
            raise gr.Error("cx and cy were given without fx and fy: give all four intrinsics or none.")
        return None
    if not all(focal_given) or cx is None or cy is None:
        raise gr.Error("Give all four intrinsics (fx, fy > 0; cx, cy) or leave fx and fy empty.")
    return float(fx), float(fy), float(cx), float(cy)  # type: ignore[arg-type]


def _summary(meta: dict, range_m: tuple[float, float] | None) -> str:
    k = meta["intrinsics"]
    depth_text = f"{range_m[0]:.2f} – {range_m[1]:.2f} m" if range_m else "no valid pixel"
    source = "assumed (none given)" if k["assumed"] else "given"
    return (f"**Mode:** {meta['mode']} · **estimator:** {meta['estimator']} · **depth:** {depth_text}  \n"
            f"**Points:** {meta['num_points']:,} · **size:** {meta['width']}×{meta['height']} · "
            f"**intrinsics** {source}: fx={k['fx']:.1f} fy={k['fy']:.1f} cx={k['cx']:.1f} cy={k['cy']:.1f} · "
            f"**inference:** {meta['inference_s'] * 1000:.0f} ms")


def make_predict_fn(client: DepthApiClient):  # noqa: ANN201 - gradio inspects the returned function
    """The click handler: (image, mode, sparse file, fx, fy, cx, cy) -> (depth image, npy, ply, summary)."""

    def predict(image: np.ndarray | None, mode: str, sparse_file: str | None, fx: float | None,
                fy: float | None, cx: float | None, cy: float | None) -> tuple[np.ndarray, str, str, str]:
        if image is None:
            raise gr.Error("Upload an image first.")
        rgb = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        sparse = Path(sparse_file).read_bytes() if sparse_file else None
        try:
            result = client.predict(encode_png_rgb(rgb), mode=None if mode == "auto" else mode,
                                    sparse_depth=sparse, intrinsics=_intrinsics(fx, fy, cx, cy))
        except ApiError as exc:
            raise gr.Error(f"The depth API refused the request: {exc}") from exc
        out_dir = Path(tempfile.mkdtemp(prefix="lingbot_depth_ui_"))
        npy_path = out_dir / "depth_m.npy"
        np.save(npy_path, result.depth_m, allow_pickle=False)
        valid = np.isfinite(result.depth_m)
        colours = rgb[valid] if int(valid.sum()) == result.points_xyz.shape[0] else None
        ply_path = write_ply(out_dir / "points.ply", result.points_xyz, colours)
        return result.colorized, str(npy_path), str(ply_path), _summary(result.response, result.depth_range_m)

    return predict


def make_status_fn(client: DepthApiClient):  # noqa: ANN201
    """Page-load handler: one line about the API server (or why it cannot be reached)."""

    def status() -> str:
        try:
            health = client.health()
        except ApiError as exc:
            return f"⚠️ {exc}"
        return (f"API `{client.base_url}`: **{health['estimator']}** on {health['device']} — modes: "
                f"{', '.join(health['modes'])}")

    return status


def build_ui(api_url: str, timeout_s: float = 120.0) -> gr.Blocks:
    """The Blocks app; every prediction goes through the HTTP API at ``api_url``."""
    client = DepthApiClient(api_url, timeout_s)
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
                mode = gr.Radio(MODE_CHOICES, value="auto", label="Mode",
                                info="auto: completion when sparse depth is given, else monocular",
                                elem_id="mode")
                with gr.Row():  # empty fx, fy = intrinsics not given
                    fx = gr.Number(label="fx [px]", value=None, minimum=0, min_width=80, elem_id="fx")
                    fy = gr.Number(label="fy [px]", value=None, minimum=0, min_width=80, elem_id="fy")
                    cx = gr.Number(label="cx [px]", value=None, min_width=80, elem_id="cx")
                    cy = gr.Number(label="cy [px]", value=None, min_width=80, elem_id="cy")
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
        demo.load(make_status_fn(client), inputs=None, outputs=server_line, api_name=False)
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

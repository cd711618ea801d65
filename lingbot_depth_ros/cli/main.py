"""``lingbot-depth``: depth off the robot (predict, serve, ui, batch, fuse) and why a robot gets none (doctor).

``predict`` (files), ``serve`` (HTTP API), ``ui`` (Gradio), ``batch`` (Ray), ``fuse`` (TSDF) and ``doctor``
(install, GPU, model and live-graph checks).

``serve`` and ``ui`` need the optional web dependencies (``pip install .[server]``); ``predict``
needs only the core package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lingbot_depth_ros.cli import predict
from lingbot_depth_ros.cli.arg_types import port, positive_float, positive_int
from lingbot_depth_ros.cli.estimator_args import add_estimator_arguments, estimator_flag_options
from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.estimators import estimator_names

DEFAULT_API_PORT = 8000
DEFAULT_UI_PORT = 7860
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 60.0
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_MAX_ANALYSIS_PIXELS = 1280 * 1024


def build_parser() -> argparse.ArgumentParser:
    """The ``lingbot-depth`` argument parser with its three subcommands."""
    parser = argparse.ArgumentParser(prog="lingbot-depth", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{predict,serve,batch,fuse,ui,doctor}")

    predict.add_arguments(commands.add_parser(
        "predict", help="depth for an image or a folder of images, written as .npy, PNG and PLY"))

    serve = commands.add_parser("serve", help="HTTP API (FastAPI): POST /predict, GET /health, docs at /docs")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    serve.add_argument("--port", type=port, default=DEFAULT_API_PORT)
    serve.add_argument("--estimator", choices=sorted(estimator_names()), default="classical")
    add_estimator_arguments(serve)  # --checkpoint, --device, --precision ...: every estimator option
    serve.add_argument("--mode-default", choices=("auto",) + predict.REQUEST_MODES, default="auto",
                       help="mode when a request names none; auto = completion if sparse depth is sent, "
                            "else monocular")
    serve.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                       help="largest accepted image (width x height)")
    serve.add_argument("--max-body-bytes", type=positive_int, default=DEFAULT_MAX_BODY_BYTES,
                       help="largest accepted request body [bytes] (larger: 413)")
    serve.add_argument("--max-inflight-bytes", type=positive_int, default=None,
                       help="request-body bytes all requests in progress may hold together (default: 2 x "
                            "--max-body-bytes); a body that does not fit answers 503 with Retry-After")
    serve.add_argument("--body-timeout", type=positive_float, default=DEFAULT_BODY_TIMEOUT_S,
                       help="seconds a request body may take to arrive (then 408, connection closed)")
    serve.add_argument("--header-timeout", type=positive_float, default=DEFAULT_HEADER_TIMEOUT_S,
                       help="seconds a connection may take to send a request's headers (then closed)")
    serve.add_argument("--max-connections", type=positive_int, default=DEFAULT_MAX_CONNECTIONS,
                       help="open connections beyond which requests answer 503 with Retry-After")
    serve.add_argument("--max-analysis-pixels", type=positive_int, default=DEFAULT_MAX_ANALYSIS_PIXELS,
                       help="surfaces/obstacles of larger images run on their depth decimated by an integer "
                            "factor to at most this many pixels (default 1280 x 1024)")
    serve.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))

    from lingbot_depth_ros.cli import batch as batch_cli
    batch_cli.add_arguments(commands.add_parser(
        "batch", help="depth and metrics for many bags / dataset folders on Ray (pip install '.[batch]')"))

    from lingbot_depth_ros.cli import fuse as fuse_cli
    fuse_cli.add_arguments(commands.add_parser(
        "fuse", help="TSDF fusion of a bag or image folder with poses into fused.ply + mesh.ply (pip install "
                     "'.[fusion]')"))

    from lingbot_depth_ros.cli import doctor as doctor_cli
    doctor_cli.add_arguments(commands.add_parser(
        "doctor", help="why there is no depth: install, GPU, model and (--ros) the live graph, each OK / WARN / FAIL "
                       "with advice"))

    ui = commands.add_parser("ui", help="Gradio web UI that calls the HTTP API")
    ui.add_argument("--api-url", default=f"http://127.0.0.1:{DEFAULT_API_PORT}", help="where `serve` listens")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    ui.add_argument("--port", type=port, default=DEFAULT_UI_PORT)
    ui.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one API answer")
    return parser


def _missing_extra(exc: ImportError) -> int:
    print(f"lingbot-depth: error: {exc.name or exc} is not installed; this command needs the optional web "
          "dependencies: pip install '.[server]' (or pip install -r requirements-server.txt)", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    try:
        from lingbot_depth_ros.server.api import run_server
    except ImportError as exc:
        return _missing_extra(exc)
    try:
        options = estimator_flag_options(args)
    except LingbotDepthError as exc:
        print(f"lingbot-depth serve: error: {exc}", file=sys.stderr)
        return 2
    return run_server(host=args.host, port=args.port, estimator_name=args.estimator, estimator_options=options,
                      default_mode=None if args.mode_default == "auto" else args.mode_default,
                      max_pixels=args.max_pixels, max_body_bytes=args.max_body_bytes, log_level=args.log_level,
                      max_inflight_bytes=args.max_inflight_bytes, body_timeout_s=args.body_timeout,
                      header_timeout_s=args.header_timeout, max_connections=args.max_connections,
                      max_analysis_pixels=args.max_analysis_pixels)


def _ui(args: argparse.Namespace) -> int:
    try:
        from lingbot_depth_ros.server.ui import run_ui
    except ImportError as exc:
        return _missing_extra(exc)
    return run_ui(api_url=args.api_url, host=args.host, port=args.port, timeout_s=args.timeout)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lingbot-depth`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "predict":
        return predict.run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "fuse":
        from lingbot_depth_ros.cli import fuse as fuse_cli
        return fuse_cli.run(args)
    if args.command == "batch":
        from lingbot_depth_ros.cli import batch as batch_cli
        return batch_cli.run(args)
    if args.command == "doctor":
        from lingbot_depth_ros.cli import doctor as doctor_cli
        return doctor_cli.run(args)
    return _ui(args)


if __name__ == "__main__":
    sys.exit(main())

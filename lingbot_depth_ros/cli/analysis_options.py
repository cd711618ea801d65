"""The scene analysis options of ``lingbot-depth predict`` (``--surfaces``, ``--obstacles``, the camera mounting,
``--surface-*`` from the node's surfaces.* parameter table) and the :class:`AnalysisRequest` they make."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from lingbot_depth_ros.param_spec import ParamSpec
from lingbot_depth_ros.params.surfaces import SURFACE_ANALYSIS_PARAMS, surface_config_from_params
from lingbot_depth_ros.pipeline.analysis import AnalysisRequest


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """``--surfaces``, ``--obstacles`` and the camera mounting options."""
    group = parser.add_argument_group("scene analysis (docs/surfaces.md, README 'Obstacle sectors')")
    group.add_argument("--surfaces", action="store_true",
                       help="also write <stem>_surfaces.json (planar surfaces, schema lingbot_depth_ros/surfaces v1)")
    group.add_argument("--obstacles", action="store_true",
                       help="also write <stem>_obstacles.json (obstacle sectors, the node's obstacles/recommendation "
                            "schema); needs --camera-height-m")
    group.add_argument("--camera-height-m", type=float, default=None,
                       help="camera height above the floor [m] (surfaces without it: floor = lowest horizontal plane)")
    group.add_argument("--camera-pitch-deg", type=float, default=0.0, help="camera pitch [deg], > 0 looks down")
    group.add_argument("--camera-roll-deg", type=float, default=0.0,
                       help="camera roll [deg] about the viewing direction, > 0 raises the image's left edge")
    for spec in SURFACE_ANALYSIS_PARAMS:  # one description: the node's surfaces.* parameter table
        name = spec.name.removeprefix("surfaces.")
        group.add_argument(f"--surface-{name.replace('_', '-')}", dest=f"surface_{name}", type=_spec_type(spec),
                           default=spec.default, metavar=type(spec.default).__name__.upper(),
                           help=f"{spec.description} Range {spec.range_text()}, default {spec.default} (node "
                                f"parameter {spec.name}).".replace("%", "%%"))


def _spec_type(spec: ParamSpec) -> Callable[[str], Any]:
    """argparse type of a numeric parameter: its Python type, refused with the spec's own message when out of
    range (argparse then exits 2 naming the option)."""
    kind = type(spec.default)

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{spec.name} must be a{'n integer' if kind is int else ' number'}, "
                                             f"got {text!r}") from None
        problem = spec.check(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    convert.__name__ = kind.__name__
    return convert


def request_from_args(args: argparse.Namespace) -> AnalysisRequest:
    """The :class:`AnalysisRequest` of parsed CLI options (InputError / ConfigError when inconsistent)."""
    values = {spec.name: getattr(args, "surface_" + spec.name.removeprefix("surfaces."), spec.default)
              for spec in SURFACE_ANALYSIS_PARAMS}
    return AnalysisRequest(surfaces=args.surfaces, obstacles=args.obstacles, camera_height_m=args.camera_height_m,
                           camera_pitch_deg=args.camera_pitch_deg, camera_roll_deg=args.camera_roll_deg,
                           surface_config=surface_config_from_params(values),
                           surface_decimation=int(values["surfaces.decimation"]))

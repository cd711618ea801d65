"""Optional Python extras: one clear error when a feature needs a pip package that is not installed.

A robot install (``rosdep install`` + ``colcon build``) brings only what the node needs with the
weight-free estimators (``classical``, ``nearest``). These features need pip packages that have no
rosdep key (README "On a robot"):

- ``estimator: lingbot`` and ``lingbot-depth-export``: torch (a CUDA build on a GPU robot, README
  "GPU on the robot"), safetensors, huggingface_hub (Hugging Face repo ids only);
- ``lingbot-depth-bag`` and ``lingbot-depth-eval``: rosbags.
"""

from __future__ import annotations

import importlib

from lingbot_depth_ros.errors import LingbotDepthError

#: import name -> pip requirement
PIP_NAMES: dict[str, str] = {
    "torch": "torch",
    "safetensors": "safetensors",
    "huggingface_hub": "huggingface_hub",
    "rosbags": "rosbags",
    "PIL": "pillow",  # the transformers image processors' backend when torchvision is absent
    "open3d": "open3d-cpu",  # CPU build; the `open3d` wheel (CUDA) on a GPU robot
}


class MissingExtraError(LingbotDepthError):
    """A feature needs an optional pip package that is not installed (the message names the command)."""


def require(feature: str, *modules: str) -> None:
    """Import each of ``modules``; raise MissingExtraError naming the pip packages of those that fail.

    Args:
        feature: what needs them, as the user named it (e.g. ``"estimator 'lingbot'"``).
        modules: import names (keys of :data:`PIP_NAMES` or plain pip-named modules).
    """
    missing: list[str] = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(PIP_NAMES.get(module, module))
    if missing:
        names = " ".join(missing)
        hint = " (for a CUDA GPU see README 'GPU on the robot')" if "torch" in missing else ""
        raise MissingExtraError(f"{feature} needs the Python package{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(missing)}, not installed: python3 -m pip install {names}{hint}")

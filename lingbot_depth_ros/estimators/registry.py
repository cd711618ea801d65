"""The registered estimators: one line each in :data:`ESTIMATORS`; everything else comes from the class.

An estimator is a :class:`~lingbot_depth_ros.estimators.base.DepthEstimator` subclass in its own module that
sets ``name``, ``summary``, ``supported_modes``, ``options`` (its option table), ``live_options`` and
``requires``. Registered here, it gets the node's ``estimator`` choice and its parameters
``<name>.<option>`` (params/node.py, the README table and config/lingbot_depth.yaml), the ``--<option>``
flags of ``lingbot-depth predict`` / ``serve`` (cli/estimator_args.py) and ``create_estimator(name, ...)``.

Estimator modules are imported when the registry is first read, so they must not import torch, transformers
or diffusers at module level (they do inside their constructors, after ``requires`` was checked).
"""

from __future__ import annotations

import functools
import importlib

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators.base import DepthEstimator
from lingbot_depth_ros.param_spec import ParamSpec

#: "module:Class" of every estimator, in the order of the docs; a new estimator is one more line here
ESTIMATORS: tuple[str, ...] = (
    "lingbot_depth_ros.estimators.classical:ClassicalCompletionEstimator",
    "lingbot_depth_ros.estimators.nearest:NearestFillEstimator",
    "lingbot_depth_ros.estimators.lingbot:LingbotEstimator",
    "lingbot_depth_ros.estimators.depth_anything:DepthAnythingEstimator",
    "lingbot_depth_ros.estimators.prompt_depth_anything:PromptDepthAnythingEstimator",
    "lingbot_depth_ros.estimators.depth_pro:DepthProEstimator",
    "lingbot_depth_ros.estimators.marigold:MarigoldEstimator",
)


@functools.lru_cache(maxsize=4)
def _load(entries: tuple[str, ...]) -> dict[str, type[DepthEstimator]]:
    classes: dict[str, type[DepthEstimator]] = {}
    for entry in entries:
        module_name, _, class_name = entry.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(cls, type) and issubclass(cls, DepthEstimator)):
            raise TypeError(f"estimator registry: {entry} is not a DepthEstimator subclass")
        if cls.name in classes:
            raise TypeError(f"estimator registry: {entry} is named '{cls.name}' like an earlier entry")
        classes[cls.name] = cls
    return classes


def estimator_classes() -> dict[str, type[DepthEstimator]]:
    """name -> class of every registered estimator, in :data:`ESTIMATORS` order."""
    return _load(ESTIMATORS)


def estimator_names() -> tuple[str, ...]:
    """The registered estimator names, in :data:`ESTIMATORS` order."""
    return tuple(estimator_classes())


def estimator_class(name: str) -> type[DepthEstimator]:
    """The class of estimator ``name`` (ConfigError naming the choices when there is none)."""
    try:
        return estimator_classes()[name]
    except KeyError:
        raise ConfigError(f"unknown estimator '{name}'; choose one of: "
                          f"{', '.join(sorted(estimator_classes()))}") from None


def estimator_params() -> tuple[ParamSpec, ...]:
    """Every registered estimator's options as node parameters ``<name>.<option>``, in registry order."""
    return tuple(spec for cls in estimator_classes().values() for spec in cls.node_params())

"""An estimator's option table, and what comes from it: node parameters and checked constructor options.

Every estimator declares its options once, as ``options``: a tuple of
:class:`~lingbot_depth_ros.param_spec.ParamSpec` named without the estimator's prefix (``resolution_level``).
The node parameter is ``<estimator>.<option>`` (:func:`node_params`), the CLI flag ``--<option>`` (cli/),
and the constructor takes the same names, filled and checked here (:func:`resolve_options`). No torch here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.param_spec import ParamSpec


def node_params(estimator: str, table: tuple[ParamSpec, ...]) -> tuple[ParamSpec, ...]:
    """The node parameters of ``estimator``'s option ``table``: the same specs named ``<estimator>.<option>``."""
    return tuple(dataclasses.replace(spec, name=f"{estimator}.{spec.name}") for spec in table)


def resolve_options(estimator: str, table: tuple[ParamSpec, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of ``table``: the ``given`` value, checked against its spec, or the table's default.

    A value equal to an option's ``none_value`` (and None itself there) becomes None (auto / unlimited);
    None for an option without a ``none_value`` means "not given" (the default). Integers given for float
    options become floats, path objects given for string options strings.

    Returns:
        option name -> value, for every option of the table.

    Raises:
        ConfigError: an option the table does not have, or a value its spec refuses (the message names the
            node parameter, ``<estimator>.<option>``, and the range).
    """
    by_name = {spec.name: spec for spec in table}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "none"
        raise ConfigError(f"estimator '{estimator}' has no option {', '.join(repr(u) for u in unknown)} "
                          f"(its options: {known})")
    resolved: dict[str, Any] = {}
    for name, spec in by_name.items():
        value = given.get(name)
        if value is None:
            resolved[name] = None if spec.none_value is not None and name in given else spec.default
        else:
            resolved[name] = _checked(estimator, spec, value)
        if spec.none_value is not None and resolved[name] == spec.none_value:
            resolved[name] = None
    return resolved


def _checked(estimator: str, spec: ParamSpec, value: Any) -> Any:
    if isinstance(spec.default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif isinstance(spec.default, str) and isinstance(value, os.PathLike):
        value = os.fspath(value)
    problem = dataclasses.replace(spec, name=f"{estimator}.{spec.name}").check(value)
    if problem is not None:
        raise ConfigError(problem)
    return value

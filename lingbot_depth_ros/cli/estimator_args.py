"""The estimator flags of ``lingbot-depth predict`` and ``serve``, generated from the estimators' option tables.

Every option ``<option>`` of a registered estimator (estimators/registry.py; node parameter
``<estimator>.<option>``) is the flag ``--<option>`` (underscores as dashes), shared by the estimators that
have an option of that name: ``--checkpoint``, ``--device``, ``--precision``, ``--resolution-level``,
``--smoothing`` ... A flag left out passes nothing (the estimator's default); one given for an estimator
without that option is refused with one line. Values are checked by the estimator against its table.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators import estimator_class, estimator_names
from lingbot_depth_ros.param_spec import ParamSpec


@dataclass(frozen=True)
class EstimatorFlag:
    """One generated flag: the option it sets and each estimator's spec of it (in registry order)."""

    option: str
    specs: dict[str, ParamSpec]

    @property
    def flag(self) -> str:
        return "--" + self.option.replace("_", "-")

    @property
    def kind(self) -> type:
        return type(next(iter(self.specs.values())).default)

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The union of the estimators' choices (None when one of them takes any value)."""
        if any(spec.choices is None for spec in self.specs.values()):
            return None
        union: list[str] = []
        for spec in sorted(self.specs.values(), key=lambda s: -len(s.choices or ())):
            union += [c for c in spec.choices or () if c not in union]
        return tuple(union)

    def help(self) -> str:
        """Which estimators take it and what it means (their node parameters' descriptions), for --help."""
        descriptions = {spec.description for spec in self.specs.values()}
        meaning = (descriptions.pop() if len(descriptions) == 1
                   else f"as the node parameters <estimator>.{self.option} (README parameter table).")
        text = f"{_estimators_text(self.specs)}: {meaning}"
        ranges = {spec.range_text() for spec in self.specs.values() if not spec.choices}
        if len(ranges) == 1 and (only := ranges.pop()) != "—":
            text += f" Range {only}."
        defaults = {name: _default_text(spec) for name, spec in self.specs.items()}
        if len(set(defaults.values())) == 1:
            text += f" Default: {next(iter(defaults.values()))}."
        else:
            text += " Default: " + "; ".join(f"{name} {default}" for name, default in defaults.items()) + "."
        return text.replace("%", "%%")


def _estimators_text(specs: dict[str, ParamSpec]) -> str:
    return " / ".join(specs)


def _default_text(spec: ParamSpec) -> str:
    return repr(spec.default) if isinstance(spec.default, str) else str(spec.default)


def estimator_flags() -> dict[str, EstimatorFlag]:
    """argparse dest (the option name) -> its flag, over every registered estimator's option table.

    Raises:
        TypeError: two estimators give an option of the same name different types (one flag cannot parse both).
    """
    specs: dict[str, dict[str, ParamSpec]] = {}
    for name in estimator_names():
        for spec in estimator_class(name).options:
            specs.setdefault(spec.name, {})[name] = spec
    flags = {option: EstimatorFlag(option, by_estimator) for option, by_estimator in specs.items()}
    for flag in flags.values():
        kinds = {type(spec.default) for spec in flag.specs.values()}
        if len(kinds) > 1:
            raise TypeError(f"estimator option {flag.option} has different types in {', '.join(flag.specs)}")
    return flags


def add_estimator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--<option>`` flag per estimator option name (default None: not given)."""
    group = parser.add_argument_group("estimator options (node parameters <estimator>.<option>; each flag applies "
                                      "to the estimators it names)")
    for dest, flag in estimator_flags().items():
        kwargs: dict[str, Any] = {"dest": dest, "default": None, "help": flag.help()}
        if flag.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = flag.kind
            kwargs["choices"] = flag.choices
            if flag.choices is None:
                kwargs["metavar"] = flag.kind.__name__.upper()
        group.add_argument(flag.flag, **kwargs)


def estimator_flag_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options for ``create_estimator(args.estimator, ...)`` from the estimator flags given.

    Raises:
        InputError: a flag given that ``args.estimator`` does not take (naming the estimators that do).
    """
    options: dict[str, Any] = {}
    for dest, flag in estimator_flags().items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if args.estimator not in flag.specs:
            raise InputError(f"{flag.flag} applies to estimator {_estimators_text(flag.specs)}, "
                             f"not '{args.estimator}'")
        options[dest] = value
    return options

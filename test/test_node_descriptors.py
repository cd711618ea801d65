"""The depth node's parameter descriptors: every bounded parameter carries its range for `ros2 param describe`."""

from __future__ import annotations

import pytest

from lingbot_depth_ros.param_spec import ParamSpec
from lingbot_depth_ros.params.node import ALL_PARAMS
from lingbot_depth_ros.ros.depth_node import descriptor


@pytest.mark.parametrize("spec", [s for s in ALL_PARAMS if s.min is not None], ids=lambda s: s.name)
def test_bounded_parameters_carry_their_range(spec: ParamSpec) -> None:
    desc = descriptor(spec)
    assert desc.read_only == spec.read_only and desc.description == spec.description
    if isinstance(spec.default, float):
        (bounds,) = desc.floating_point_range
        assert (bounds.from_value, bounds.to_value, bounds.step) == (spec.min, spec.max, 0.0)
        assert list(desc.integer_range) == []
    else:
        (bounds,) = desc.integer_range
        assert (bounds.from_value, bounds.to_value, bounds.step) == (spec.min, spec.max, 1)
        assert list(desc.floating_point_range) == []


def test_unbounded_and_half_bounded_parameters_have_no_ros_range() -> None:
    """A ROS range needs both ends: a spec bounded on one side only is still checked by ParamSpec.check."""
    for spec in (ParamSpec("a", 1.0, "x"), ParamSpec("b", 1.0, "x", min=0.0), ParamSpec("c", 3, "x", max=5),
                 ParamSpec("d", "s", "x", choices=("s", "t"))):
        desc = descriptor(spec)
        assert list(desc.floating_point_range) == [] and list(desc.integer_range) == [], spec.name
    assert descriptor(ParamSpec("d", "s", "x", choices=("s", "t"))).additional_constraints == "one of: s, t"

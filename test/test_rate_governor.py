"""lingbot.target_hz: the resolution-level governor against a simulated estimator whose time depends on
the level (a fake clock: the governor only sees the seconds it is given)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators.rate_governor import RateGovernor


def cost_s(level: int, scale: float = 1.0) -> float:
    """Inference time [s] of a level: 10 ms + 4 ms per level (level 9: 46 ms)."""
    return scale * (0.010 + 0.004 * level)


def run(governor: RateGovernor, level: int, frames: int, scale: float = 1.0, jitter: float = 0.0,
        seed: int = 0) -> list[int]:
    """Levels used for ``frames`` forwards (the governor deciding after each)."""
    rng = np.random.default_rng(seed)
    used = []
    for _ in range(frames):
        used.append(level)
        seconds = cost_s(level, scale) * (1.0 + jitter * rng.uniform(-1, 1))
        level = governor.observe(level, seconds)
    return used


def test_steps_down_to_a_level_that_holds_the_rate_and_stays() -> None:
    governor = RateGovernor(40.0, window=4)  # budget 25 ms; level 3 = 22 ms, level 4 = 26 ms
    used = run(governor, 9, 400)
    assert used[0] == 9 and used[-1] == 3
    settled = used[100:]
    assert set(settled) == {3}, Counter(settled)
    assert cost_s(3) <= governor.budget_s < cost_s(4)
    # one step per full window: 9 -> 3 took 6 windows
    assert used.index(3) == 6 * 4
    assert governor.state.level == 3 and governor.state.status == "holding"


def test_steps_up_only_when_well_under_the_budget() -> None:
    governor = RateGovernor(40.0, window=4, up_fraction=0.6)  # up while mean < 15 ms
    used = run(governor, 0, 200)
    # level 0 (10 ms) and 1 (14 ms) are well under; level 2 (18 ms) is in the hysteresis band: kept
    assert used[-1] == 2 and set(used[50:]) == {2}
    assert governor.state.status == "holding"


def test_no_oscillation_between_a_fitting_and_a_too_slow_level() -> None:
    # up_fraction 0.9: level 3 (22 ms < 22.5) asks to go up, level 4 (26 ms > 25) is too slow
    governor = RateGovernor(40.0, window=4, up_fraction=0.9, retry_after=200)
    used = run(governor, 3, 1000)
    at_4 = sum(1 for level in used if level == 4)
    changes = sum(1 for a, b in zip(used, used[1:]) if a != b)
    assert at_4 <= 5 * 4, at_4  # a probe of one window every retry_after forwards at most
    assert changes <= 2 * (1000 // 200 + 1), changes
    assert Counter(used).most_common(1)[0][0] == 3


def test_noisy_times_do_not_make_it_hunt() -> None:
    governor = RateGovernor(40.0, window=8)
    used = run(governor, 9, 2000, jitter=0.08, seed=4)
    tail = used[500:]
    assert Counter(tail).most_common(1)[0][0] == 3
    assert sum(1 for a, b in zip(tail, tail[1:]) if a != b) <= 4


def test_follows_a_load_change() -> None:
    governor = RateGovernor(40.0, window=4)
    used = run(governor, 9, 200)
    assert used[-1] == 3
    # the GPU gets shared: every level now takes twice as long -> level 0 (20 ms) is the one that fits
    used = run(governor, used[-1], 200, scale=2.0)
    assert used[-1] == 0


def test_lowest_level_too_slow_is_reported_not_undershot() -> None:
    governor = RateGovernor(200.0, window=2)  # 5 ms budget: nothing fits
    used = run(governor, 2, 50)
    assert used[-1] == 0 and min(used) == 0
    assert governor.state.status == "below target at lowest level"
    assert "200 Hz" in governor.describe() and "below target" in governor.describe()


def test_outside_level_change_restarts_the_window() -> None:
    governor = RateGovernor(40.0, window=3)
    assert governor.observe(9, 0.046) == 9 and governor.observe(9, 0.046) == 9
    # the level was set from outside (parameter, out-of-memory step): its first sample decides nothing
    assert governor.observe(5, 0.030) == 5
    assert governor.state.status == "filling window"
    assert governor.observe(5, 0.030) == 5
    assert governor.observe(5, 0.030) == 4


def test_respects_its_level_bounds() -> None:
    governor = RateGovernor(10.0, window=1, min_level=2, max_level=6)
    used = run(governor, 2, 20)  # everything is fast: it climbs to max_level, not beyond
    assert used[-1] == 6
    slow = RateGovernor(1000.0, window=1, min_level=2, max_level=6)
    assert run(slow, 6, 20)[-1] == 2


@pytest.mark.parametrize("kwargs", [{"target_hz": 0.0}, {"target_hz": -1.0}, {"target_hz": 10.0, "window": 0},
                                    {"target_hz": 10.0, "up_fraction": 1.0},
                                    {"target_hz": 10.0, "min_level": 5, "max_level": 4}])
def test_bad_settings_raise(kwargs: dict) -> None:
    target = kwargs.pop("target_hz")
    with pytest.raises(ConfigError):
        RateGovernor(target, **kwargs)

"""Hold a target frame rate by moving the estimator's resolution level between frames (no ROS).

LingBot-Depth's ``resolution_level`` (0..9) sets its token budget: lower is faster. The governor
watches the estimator's inference time [s] per forward (one forward may serve several cameras) and
steps the level:

* down one level when the mean of the last ``window`` forwards exceeds the budget ``1 / target_hz``;
* up one level when that mean is under ``up_fraction`` of the budget (well under: hysteresis band
  between ``up_fraction * budget`` and ``budget`` where nothing changes);
* after every change the window starts empty, so each decision rests on ``window`` forwards at the
  level in use; a level that proved too slow is not tried again for ``retry_after`` forwards (no
  oscillation between a level that fits and one that does not when the band is not wide enough).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lingbot_depth_ros.errors import ConfigError


@dataclass(frozen=True)
class GovernorState:
    """What the governor last decided (for diagnostics). Times in [ms]."""

    level: int
    budget_ms: float
    mean_ms: float | None  # mean of the current window (None until a sample at this level)
    status: str  # "holding", "stepped down", "stepped up", "filling window", "below target at lowest level"


class RateGovernor:
    """Resolution-level controller; call :meth:`observe` after every forward.

    Args:
        target_hz: rate to hold [Hz] (> 0).
        window: forwards averaged per decision (>= 1).
        up_fraction: step up only when the mean is below this fraction of the budget (0 < f < 1).
        min_level, max_level: the levels it may use.
        retry_after: forwards before a level that proved too slow may be tried again.
    """

    def __init__(self, target_hz: float, *, window: int = 8, up_fraction: float = 0.6, min_level: int = 0,
                 max_level: int = 9, retry_after: int | None = None) -> None:
        if not target_hz > 0:
            raise ConfigError(f"target rate must be > 0 Hz, got {target_hz}")
        if window < 1:
            raise ConfigError(f"rate window must be >= 1 frame, got {window}")
        if not 0.0 < up_fraction < 1.0:
            raise ConfigError(f"up_fraction must lie in (0, 1), got {up_fraction}")
        if not 0 <= min_level <= max_level:
            raise ConfigError(f"levels must satisfy 0 <= min_level <= max_level, got {min_level}..{max_level}")
        self.target_hz = float(target_hz)
        self.budget_s = 1.0 / self.target_hz
        self.window = int(window)
        self.up_fraction = float(up_fraction)
        self.min_level, self.max_level = int(min_level), int(max_level)
        self.retry_after = int(retry_after) if retry_after is not None else 20 * self.window
        self._samples: deque[float] = deque(maxlen=self.window)
        self._level: int | None = None
        self._too_slow: dict[int, int] = {}  # level -> forwards left before it may be tried again
        self.state = GovernorState(level=-1, budget_ms=1e3 * self.budget_s, mean_ms=None, status="filling window")

    def observe(self, level: int, inference_s: float) -> int:
        """Record one forward of ``inference_s`` [s] at ``level``; return the level for the next forward.

        A level different from the one returned last (changed from outside: a parameter, an
        out-of-memory step-down) restarts the window at that level.
        """
        level = int(level)
        if level != self._level:
            self._level = level
            self._samples.clear()
        for slow in list(self._too_slow):
            self._too_slow[slow] -= 1
            if self._too_slow[slow] <= 0:
                del self._too_slow[slow]
        self._samples.append(float(inference_s))
        mean_s = sum(self._samples) / len(self._samples)
        new, status = level, "holding"
        if len(self._samples) < self.window:
            status = "filling window"
        elif mean_s > self.budget_s:
            if level > self.min_level:
                new, status = level - 1, "stepped down"
                self._too_slow[level] = self.retry_after
            else:
                status = "below target at lowest level"
        elif mean_s < self.up_fraction * self.budget_s and level < self.max_level and level + 1 not in self._too_slow:
            new, status = level + 1, "stepped up"
        new = min(max(new, self.min_level), self.max_level)
        self.state = GovernorState(level=new, budget_ms=1e3 * self.budget_s, mean_ms=1e3 * mean_s, status=status)
        if new != level:
            self._level = new
            self._samples.clear()
        return new

    def describe(self) -> str:
        """One line for diagnostics."""
        s = self.state
        mean = "-" if s.mean_ms is None else f"{s.mean_ms:.1f}"
        return (f"target {self.target_hz:g} Hz (budget {s.budget_ms:.1f} ms), mean inference {mean} ms, "
                f"{s.status}")

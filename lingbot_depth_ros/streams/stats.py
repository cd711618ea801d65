"""Small rolling statistics for diagnostics: rates and latency summaries (no ROS)."""

from __future__ import annotations

import time
from collections import deque

import numpy as np


class RateMeter:
    """Events per second over a sliding window of ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self.count = 0
        self.last_time: float | None = None

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        self.count += 1
        self.last_time = now
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate_hz(self, now: float | None = None) -> float:
        """Events per second in the window (0 when fewer than two events)."""
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def age_s(self, now: float | None = None) -> float | None:
        """Seconds since the last event, or None if there was none."""
        if self.last_time is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_time


class LatencyStats:
    """Last ``size`` durations [s]; summaries in milliseconds."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def __len__(self) -> int:
        return len(self._values)

    def summary_ms(self) -> tuple[float, float]:
        """(mean, p95) [ms]; (nan, nan) when empty."""
        if not self._values:
            return float("nan"), float("nan")
        values = np.fromiter(self._values, dtype=np.float64) * 1e3
        return float(values.mean()), float(np.percentile(values, 95))

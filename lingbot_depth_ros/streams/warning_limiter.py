"""Warnings of a stream of inputs logged at most every few seconds per kind (ROS-free; the depth node's cameras).

The kind of a warning is its text with every number masked (sizes, byte counts, K values, NaN/inf), so
malformed messages whose errors differ only in numbers log one line per interval, with how many similar
ones were suppressed since the last, instead of one line each.
"""

from __future__ import annotations

import re

# Numbers in a warning (sizes, byte counts, K values, NaN/inf): masked to group warnings of one kind.
_NUMBERS = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|\b(?:nan|inf)\b", re.IGNORECASE)


def warning_kind(message: str) -> str:
    """``message`` with its numbers replaced by ``#`` (warnings of one kind share it)."""
    return _NUMBERS.sub("#", message)


class WarningLimiter:
    """Decides which warnings are logged: one per kind every ``interval_s`` [s] at most.

    ``max_kinds``: more distinct kinds than this forget every kind (bounded memory under arbitrary text).
    """

    def __init__(self, interval_s: float = 2.0, max_kinds: int = 256) -> None:
        self.interval_s = interval_s
        self.max_kinds = max_kinds
        self._warned_at: dict[str, float] = {}  # kind -> monotonic time [s] it was last logged
        self._suppressed: dict[str, int] = {}  # kind -> warnings not logged since

    def line(self, message: str, now_s: float) -> str | None:
        """The line to log for ``message`` at monotonic time ``now_s`` [s] (with ``(N similar suppressed)`` when
        warnings of its kind were held back since it was last logged), or None: held back."""
        kind = warning_kind(message)
        if now_s - self._warned_at.get(kind, -1e9) > self.interval_s:
            if len(self._warned_at) > self.max_kinds:
                self._warned_at.clear()
                self._suppressed.clear()
            self._warned_at[kind] = now_s
            suppressed = self._suppressed.pop(kind, 0)
            return message + (f" ({suppressed} similar suppressed)" if suppressed else "")
        self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        return None

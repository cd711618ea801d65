"""A one-line text progress bar (no dependency), shared by the command-line tools."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``label: [#####.....] done/total note`` redrawn in place with a carriage return.

    Args:
        label: text before the bar.
        total: number of steps.
        stream: where to draw (default stderr).
        enabled: False draws nothing (e.g. ``--quiet``, or output that is not a terminal).
        min_interval_s: redraw at most this often, except for the final step.
        width: bar width in characters.
    """

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, enabled: bool = True,
                 min_interval_s: float = 0.0, width: int = 30) -> None:
        self.label, self.total, self.width = label, max(int(total), 1), width
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.min_interval_s = min_interval_s
        self._last_draw = float("-inf")

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        """Show ``done`` of ``total`` steps, with a short ``note``."""
        now = time.monotonic()
        if not self.enabled or (not force and done < self.total and now - self._last_draw < self.min_interval_s):
            return
        self._last_draw = now
        filled = self.width * min(done, self.total) // self.total
        self.stream.write(f"\r{self.label}: [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
                          + (f" {note}" if note else ""))
        self.stream.flush()

    def close(self, done: int | None = None, note: str = "") -> None:
        """Draw the final state (``done`` defaults to ``total``) and end the line."""
        if self.enabled:
            self.update(self.total if done is None else done, note, force=True)
            self.stream.write("\n")
            self.stream.flush()

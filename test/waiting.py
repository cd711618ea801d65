"""Waiting in tests: on a condition with a deadline, never for a fixed time.

This is the one module in test/ that calls ``time.sleep`` (``test_suite_hygiene.py`` enforces it, with a short
allow-list of stand-ins for slow estimators):

* :func:`wait_until` polls a condition until a deadline and fails naming what it waited for;
* :func:`repeat_until` repeats an action (publish a frame) until a condition holds, for inputs that a lossy
  (best-effort) topic or a still-starting subscriber may miss;
* :class:`Pacer` paces publishing at a fixed rate, to simulate a camera: only for tests whose assertions hold
  whatever the exact spacing of the messages is (say so in a comment where it is used);
* :func:`quiet_for` is a stretch with no input on purpose (a robot standing still, a camera that stopped): the
  scenario itself, not a wait for something.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Literal

POLL_S = 0.02  # how often a condition is checked [s]


def _describe(predicate: Callable[[], object]) -> str:
    """The source text of ``predicate`` (a lambda: the line it is on), for a failure message."""
    try:
        text = " ".join(inspect.getsource(predicate).split())
    except (OSError, TypeError):
        text = repr(predicate)
    return text if len(text) <= 300 else text[:297] + "..."


def _timed_out(timeout: float, what: str | None, predicate: Callable[[], object],
               detail: Callable[[], object] | None) -> AssertionError:
    message = f"timed out after {timeout:g} s waiting for {what or _describe(predicate)}"
    if detail is not None:
        message += f"; {detail()}"
    return AssertionError(message)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str | None = None, *,
               detail: Callable[[], object] | None = None, poll_s: float = POLL_S) -> Literal[True]:
    """Poll ``predicate`` every ``poll_s`` [s] until it is true; True then (so ``assert wait_until(...)`` reads
    well too).

    Args:
        predicate: the condition; checked once more at the deadline.
        timeout: the deadline [s] from now.
        what: what is awaited, for the failure message (default: the predicate's source line).
        detail: called at the deadline for the state to show with the failure (a log tail, counters).

    Raises:
        AssertionError: ``timed out after <timeout> s waiting for <what>[; <detail>]``.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            if predicate():
                break
            raise _timed_out(timeout, what, predicate, detail)
        time.sleep(min(poll_s, left))
    return True


def repeat_until(action: Callable[[], object], predicate: Callable[[], object], timeout: float, what: str, *,
                 period_s: float = 0.1, detail: Callable[[], object] | None = None) -> int:
    """Run ``action`` every ``period_s`` [s] until ``predicate`` is true; how many times it ran (>= 1).

    For inputs that must be sent again until they have an effect: a message on a best-effort topic, a frame
    published while a subscription is still matching, a stream that has to keep coming for a warning.

    Raises:
        AssertionError: as :func:`wait_until`, when ``timeout`` [s] passes first.
    """
    deadline = time.monotonic() + timeout
    runs = 0
    while True:
        action()
        runs += 1
        next_run = time.monotonic() + period_s
        while time.monotonic() < next_run:
            if predicate():
                return runs
            time.sleep(min(POLL_S, max(next_run - time.monotonic(), 0.0)))
        if predicate():
            return runs
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, predicate, detail)


class Pacer:
    """Sleep-paced publishing at ``rate_hz``: :meth:`wait` returns at the next tick (ticks do not drift).

    Simulates a sensor's rate. Only for tests whose assertions do not depend on the exact spacing, which a
    loaded machine stretches: say at the call site why the assertions hold whatever the spacing.
    """

    def __init__(self, rate_hz: float) -> None:
        self.period_s = 1.0 / rate_hz
        self._next = time.monotonic()

    def wait(self) -> None:
        """Sleep until the next tick (at once when already late; late ticks are not made up)."""
        self._next = max(self._next + self.period_s, time.monotonic())
        time.sleep(max(self._next - time.monotonic(), 0.0))


def quiet_for(seconds: float, why: str) -> None:
    """Send nothing for ``seconds`` [s] on purpose: the scenario needs that much time without input (a paused
    robot, a camera that stopped). Not a way to wait for something: use :func:`wait_until` for that.

    ``why`` (required) says what the quiet stretch simulates.
    """
    assert why, "say what the quiet stretch simulates"
    time.sleep(seconds)

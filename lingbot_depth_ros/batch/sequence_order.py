"""Which unit an idle batch worker takes next (no Ray): any pending unit, or, while the temporal stage is on, an
input's units in frame order on one worker (its stage and metrics go on from one unit to the next).

With ``in_order``, a worker first continues the input it holds (its lowest pending unit); a worker with nothing
of its own pending takes the first pending unit of an input no worker holds; a unit whose input another worker
holds waits for that worker. Inputs run in parallel, the frames of one input never do. A worker that dies frees
its inputs: the retried unit starts the history again on another worker (the worker counts a "sequence split"
reset).
"""

from __future__ import annotations

from collections.abc import Hashable

from lingbot_depth_ros.batch.sources import Unit


class SequenceLanes:
    """Hands out pending units to idle workers (see the module docstring)."""

    def __init__(self, in_order: bool) -> None:
        self.in_order = in_order
        self._holders: dict[str, Hashable] = {}   # input id -> the worker that runs its units

    def take(self, worker: Hashable, pending: list[Unit]) -> Unit | None:
        """The unit ``worker`` runs next, removed from ``pending``; None: nothing for it now."""
        if not pending:
            return None
        if not self.in_order:
            return pending.pop(0)
        own = [u for u in pending if self._holders.get(u.input_id) is worker]
        if own:
            unit = min(own, key=lambda u: u.start)
        else:
            free = [u for u in pending if u.input_id not in self._holders]
            if not free:
                return None
            first_input = free[0].input_id
            unit = min((u for u in free if u.input_id == first_input), key=lambda u: u.start)
            for input_id in [i for i, w in self._holders.items() if w is worker]:
                del self._holders[input_id]   # nothing of it left pending: the worker moves on
            self._holders[unit.input_id] = worker
        pending.remove(unit)
        return unit

    def drop_worker(self, worker: Hashable) -> None:
        """``worker`` died: its inputs go to whichever worker is idle next."""
        for input_id in [i for i, w in self._holders.items() if w is worker]:
            del self._holders[input_id]


__all__ = ["SequenceLanes"]

"""Which unit an idle batch worker takes next (no Ray): any pending unit, or, while the temporal stage is on, an
input's units in frame order on one worker (its stage and metrics go on from one unit to the next).

With ``in_order``, a worker first continues the input it holds (its next unit); a worker with nothing of its own
pending takes the next unit of an input no worker holds; a unit whose input another worker holds waits for that
worker, and a unit waits for the one before it (units read by Ray Data arrive in any order). Inputs run in
parallel, the frames of one input never do. A worker that dies frees its inputs: the retried unit starts the
history again on another worker (the worker counts a "sequence split" reset).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from lingbot_depth_ros.batch.sources import Unit


class SequenceLanes:
    """Hands out pending units to idle workers (see the module docstring)."""

    def __init__(self, in_order: bool, units: Iterable[Unit] = ()) -> None:
        """``units``: every unit of the run still to do (the first of each input is where it starts)."""
        self.in_order = in_order
        self._holders: dict[str, Hashable] = {}   # input id -> the worker that runs its units
        self._to_do: dict[str, set[int]] = {}     # input id -> starts of its units not handed out yet
        for unit in units:
            self._to_do.setdefault(unit.input_id, set()).add(unit.start)

    def _ready(self, unit: Unit) -> bool:
        """``unit`` is the first of its input still to do (or one the lanes were not told of)."""
        to_do = self._to_do.get(unit.input_id)
        return not to_do or unit.start not in to_do or unit.start == min(to_do)

    def take(self, worker: Hashable, pending: list[Unit]) -> Unit | None:
        """The unit ``worker`` runs next, removed from ``pending``; None: nothing for it now."""
        if not pending:
            return None
        if not self.in_order:
            return pending.pop(0)
        own = [u for u in pending if self._holders.get(u.input_id) is worker and self._ready(u)]
        if own:
            unit = own[0]
        else:
            free = [u for u in pending if u.input_id not in self._holders and self._ready(u)]
            if not free:
                return None
            unit = free[0]
            for input_id in [i for i, w in self._holders.items() if w is worker]:
                del self._holders[input_id]   # nothing of it left pending: the worker moves on
            self._holders[unit.input_id] = worker
        pending.remove(unit)
        self._to_do.get(unit.input_id, set()).discard(unit.start)
        return unit

    def drop_worker(self, worker: Hashable, unit: Unit | None = None) -> None:
        """``worker`` died (running ``unit``, which will run again): its inputs go to whichever worker is idle
        next."""
        for input_id in [i for i, w in self._holders.items() if w is worker]:
            del self._holders[input_id]
        if unit is not None:
            self._to_do.setdefault(unit.input_id, set()).add(unit.start)


__all__ = ["SequenceLanes"]

"""Approximate-time synchronization of several stamped streams (no ROS needed).

A small, tested stand-in for message_filters' ApproximateTimeSynchronizer, specialised for the
depth node: one *reference* stream (the camera image) drives the output, and every other required
stream contributes the message whose stamp is nearest to the reference stamp, if it lies within
``slop``. Only the newest matchable reference is emitted: older reference messages still waiting
are dropped (counted), never queued, so a slow consumer never sees stale frames.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lingbot_depth_ros.errors import ConfigError

NS_PER_S = 1_000_000_000


@dataclass
class SyncedSet:
    """One synchronized set: the reference stamp [ns] and one message per required stream."""

    stamp_ns: int
    messages: dict[str, Any]


@dataclass
class SyncStats:
    """Counters since construction (or the last ``reset_stats``)."""

    emitted: int = 0
    dropped_stale: int = 0  # reference messages superseded by a newer matched one
    dropped_overflow: int = 0  # messages pushed out of a full queue
    resets: int = 0  # stamp jumped backwards (bag loop, sim time reset)
    per_topic_received: dict[str, int] = field(default_factory=dict)


class ApproximateTimeSync:
    """Pair messages of ``topics`` whose stamps lie within ``slop_s`` of the reference stream.

    Args:
        topics: every stream name that may be added.
        reference: the stream whose stamps define the output (e.g. ``"image"``).
        queue_size: per-stream bound on waiting messages (oldest pushed out first).
        slop_s: largest accepted |stamp - reference stamp| [s].
        required: streams needed for a set (default: all ``topics``); see :meth:`set_required`.
    """

    def __init__(self, topics: Sequence[str], reference: str, queue_size: int = 10, slop_s: float = 0.05,
                 required: Iterable[str] | None = None) -> None:
        if reference not in topics:
            raise ConfigError(f"reference stream '{reference}' is not among {list(topics)}")
        self.topics = tuple(topics)
        self.reference = reference
        self._queues: dict[str, deque[tuple[int, Any]]] = {t: deque() for t in self.topics}
        self._last_stamp: dict[str, int] = {}
        self.stats = SyncStats(per_topic_received={t: 0 for t in self.topics})
        self.queue_size = 1
        self.slop_ns = 0
        self.configure(queue_size=queue_size, slop_s=slop_s)
        self._required: tuple[str, ...] = self.topics
        self.set_required(required if required is not None else self.topics)

    # -- configuration -----------------------------------------------------------------------
    def configure(self, *, queue_size: int | None = None, slop_s: float | None = None) -> None:
        """Change queue size and/or slop; takes effect for the next message."""
        if queue_size is not None:
            if int(queue_size) < 1:
                raise ConfigError(f"queue_size must be >= 1, got {queue_size}")
            self.queue_size = int(queue_size)
            for q in self._queues.values():
                while len(q) > self.queue_size:
                    q.popleft()
        if slop_s is not None:
            if not slop_s >= 0:
                raise ConfigError(f"slop must be >= 0 s, got {slop_s}")
            self.slop_ns = int(round(slop_s * NS_PER_S))

    def set_required(self, required: Iterable[str]) -> None:
        """Choose which streams a set needs (the reference always). Others are still buffered."""
        required = tuple(required)
        unknown = [t for t in required if t not in self._queues]
        if unknown:
            raise ConfigError(f"unknown stream(s) {unknown}; known: {list(self.topics)}")
        if self.reference not in required:
            required = (self.reference,) + required
        self._required = required

    @property
    def required(self) -> tuple[str, ...]:
        return self._required

    # -- data ----------------------------------------------------------------------------------
    def add(self, topic: str, stamp_ns: int, msg: Any) -> SyncedSet | None:
        """Add one message; return the newest complete set it makes possible, or None.

        A stamp older than the newest already seen on the same stream means time went backwards
        (bag loop, simulation reset): every queue is cleared so nothing pairs across the jump.
        """
        queue = self._queues.get(topic)
        if queue is None:
            raise ConfigError(f"unknown stream '{topic}'; known: {list(self.topics)}")
        last = self._last_stamp.get(topic)
        if last is not None and stamp_ns < last:
            self.reset()
            self.stats.resets += 1
        self._last_stamp[topic] = stamp_ns
        self.stats.per_topic_received[topic] += 1
        if queue and stamp_ns < queue[-1][0]:
            index = bisect.bisect_right([s for s, _ in queue], stamp_ns)
            queue.insert(index, (stamp_ns, msg))
        else:
            queue.append((stamp_ns, msg))
        if len(queue) > self.queue_size:
            queue.popleft()
            self.stats.dropped_overflow += 1
        return self._try_match()

    def reset(self) -> None:
        """Forget every waiting message and the stamp history (e.g. after a time jump)."""
        for q in self._queues.values():
            q.clear()
        self._last_stamp.clear()

    def _nearest(self, topic: str, stamp_ns: int) -> tuple[int, int] | None:
        """(index, |dt| ns) of the message of ``topic`` nearest to ``stamp_ns``, or None if empty."""
        queue = self._queues[topic]
        if not queue:
            return None
        best = min(range(len(queue)), key=lambda i: abs(queue[i][0] - stamp_ns))
        return best, abs(queue[best][0] - stamp_ns)

    def _try_match(self) -> SyncedSet | None:
        refs = self._queues[self.reference]
        others = [t for t in self._required if t != self.reference]
        for ref_index in range(len(refs) - 1, -1, -1):
            ref_stamp, ref_msg = refs[ref_index]
            picks: dict[str, int] = {}
            for topic in others:
                found = self._nearest(topic, ref_stamp)
                if found is None or found[1] > self.slop_ns:
                    break
                picks[topic] = found[0]
            else:
                messages = {self.reference: ref_msg}
                for topic, index in picks.items():
                    queue = self._queues[topic]
                    messages[topic] = queue[index][1]
                    for _ in range(index + 1):  # the match and everything older is used up
                        queue.popleft()
                self.stats.dropped_stale += ref_index
                for _ in range(ref_index + 1):
                    refs.popleft()
                self.stats.emitted += 1
                return SyncedSet(stamp_ns=ref_stamp, messages=messages)
        return None

    # -- explanation ---------------------------------------------------------------------------
    def explain(self) -> str:
        """Why nothing pairs right now, in concrete terms (for a warning)."""
        never = [t for t in self._required if self.stats.per_topic_received[t] == 0]
        if never:
            return "; ".join(f"no {t} received" for t in never)
        refs = self._queues[self.reference]
        if not refs:
            return f"waiting for {self.reference} (none queued since the last set)"
        ref_stamp = refs[-1][0]
        reasons = []
        for topic in self._required:
            if topic == self.reference:
                continue
            found = self._nearest(topic, ref_stamp)
            if found is None:
                last = self._last_stamp.get(topic)
                if last is None:
                    reasons.append(f"no {topic} queued")
                    continue
                dt = (ref_stamp - last) / NS_PER_S
            else:
                dt = (ref_stamp - self._queues[topic][found[0]][0]) / NS_PER_S
            if abs(dt) * NS_PER_S > self.slop_ns:
                relation = "lag" if dt > 0 else "lead"
                reasons.append(f"{topic} stamps {relation} {self.reference} by {abs(dt):.2f} s > slop "
                               f"{self.slop_ns / NS_PER_S:.2f} s")
        return "; ".join(reasons) if reasons else "waiting for matching messages"

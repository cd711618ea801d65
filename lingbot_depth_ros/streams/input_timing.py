"""How one camera's inputs arrive: adaptive sparse-depth timeout, late messages, stale drops (no rclpy).

Three things a node can see but a user cannot easily tell apart on a robot:

* **Bursty sparse depth.** Large messages between processes with different DDS transport settings arrive
  late and in bursts (Fast DDS defaults repair a lost UDP fragment on the writer's 3 s heartbeat). A fixed
  ``sparse_timeout_s`` then declares sparse depth stopped in every gap, and auto mode flaps. The timeout in
  force is therefore ``max(sparse_timeout_s, SPARSE_GAP_FACTOR x the longest of the last WINDOW gaps
  between sparse messages)``; the adaptive part is capped at SPARSE_TIMEOUT_CAP_S, ``sparse_timeout_s``
  stays the floor (and wins when set higher).
* **Late inputs.** ``delay = receive time - header stamp`` (ROS time). When at least LATE_SHARE of a
  stream's last WINDOW messages are later than ``diagnostics.input_delay_warn_s``, the stream is late.
  Stamps more than CLOCK_MISMATCH_S off (a bag replayed without sim time, a test's own clock) are on
  another clock and not judged.
* **Stale drops from bursts.** When at least STALE_SHARE of the images of the last STALE_WINDOW_S were
  dropped as stale (superseded in the synchronizer or in the hand-off slot) although the estimator keeps up
  (95 % of frames processed within the images' stamp period), the frames arrived in bursts: a transport
  problem, not a slow estimator (whose stale drops are by design and are not warned about).

:class:`InputTiming` keeps the state; the camera channel feeds it and logs what :meth:`InputTiming.check`
returns (each kind at most every WARN_PERIOD_S) and adds :meth:`InputTiming.diagnostics` to its status.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from statistics import median

WINDOW = 20  # messages per stream (delays), sparse arrival gaps, image stamps
SPARSE_GAP_FACTOR = 2.0
SPARSE_TIMEOUT_CAP_S = 10.0
CLOCK_MISMATCH_S = 60.0
LATE_SHARE = 0.25
STALE_WINDOW_S = 10.0
STALE_SHARE = 0.15
STALE_MIN_IMAGES = 8
FAST_ESTIMATOR_FRACTION = 1.0  # p95 processing time below this fraction of the stamp period: "keeps up"
WARN_PERIOD_S = 10.0


@dataclass
class _Snapshot:
    time_s: float
    images: int
    stale: int


@dataclass
class InputTiming:
    """Arrival statistics of one camera's inputs (monotonic times [s], ROS stamps [ns]).

    ``dds_hint``: what to do about transport settings, appended to the warnings (see
    :func:`lingbot_depth_ros.deploy.dds.transport_hint`).
    """

    dds_hint: str = ""
    _delays: dict[str, deque[float]] = field(default_factory=dict)
    _last_sparse_s: float | None = None
    _sparse_gaps: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _image_stamps: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _snapshots: deque[_Snapshot] = field(default_factory=deque)
    _warned_at: dict[str, float] = field(default_factory=dict)
    stale_share: tuple[int, int] | None = None  # (stale, images) of the last STALE_WINDOW_S, once enough images

    # -- feeding ---------------------------------------------------------------------------------
    def observe(self, stream: str, receive_ns: int, stamp_ns: int) -> None:
        """A message of ``stream`` received at ROS time ``receive_ns`` with header stamp ``stamp_ns``."""
        delay_s = (receive_ns - stamp_ns) / 1e9
        if abs(delay_s) <= CLOCK_MISMATCH_S:
            self._delays.setdefault(stream, deque(maxlen=WINDOW)).append(delay_s)

    def image_stamp(self, stamp_ns: int) -> None:
        self._image_stamps.append(stamp_ns)

    def sparse_arrived(self, now_s: float) -> None:
        if self._last_sparse_s is not None:
            self._sparse_gaps.append(now_s - self._last_sparse_s)
        self._last_sparse_s = now_s

    # -- judgements ------------------------------------------------------------------------------
    def sparse_timeout_s(self, floor_s: float) -> float:
        """The sparse-depth timeout in force [s]: ``floor_s`` or longer after long gaps (module docstring)."""
        if not self._sparse_gaps:
            return floor_s
        adaptive = min(SPARSE_GAP_FACTOR * max(self._sparse_gaps), SPARSE_TIMEOUT_CAP_S)
        return max(floor_s, adaptive)

    def late(self, stream: str, threshold_s: float) -> tuple[int, int, float, float] | None:
        """(late messages, messages, smallest and largest late delay [s]) of ``stream``'s window when at least
        LATE_SHARE of it is later than ``threshold_s``; None otherwise (or ``threshold_s`` <= 0)."""
        delays = self._delays.get(stream)
        if threshold_s <= 0 or not delays or len(delays) < min(5, WINDOW):
            return None
        late = [d for d in delays if d > threshold_s]
        if len(late) < LATE_SHARE * len(delays):
            return None
        return len(late), len(delays), min(late), max(late)

    def stamp_period_s(self) -> float | None:
        """Median period [s] of the image stamps (the camera's nominal rate, whatever the arrival pattern)."""
        stamps = sorted(self._image_stamps)
        steps = [(b - a) / 1e9 for a, b in zip(stamps, stamps[1:]) if b > a]
        return median(steps) if steps else None

    def update_stale(self, now_s: float, images: int, stale: int) -> None:
        """Record the camera's counters (images received, frames dropped as stale) at ``now_s``."""
        self._snapshots.append(_Snapshot(now_s, images, stale))
        while len(self._snapshots) > 1 and now_s - self._snapshots[1].time_s >= STALE_WINDOW_S:
            self._snapshots.popleft()
        first = self._snapshots[0]
        images_in_window = images - first.images
        self.stale_share = (stale - first.stale, images_in_window) if images_in_window >= STALE_MIN_IMAGES \
            else None

    def bursty(self, processing_p95_s: float | None) -> bool:
        """Stale drops from bursts: a share of stale drops although the estimator keeps up with the stamps."""
        return self.burst_evidence(processing_p95_s) is not None

    def burst_evidence(self, processing_p95_s: float | None) -> tuple[int, int, float, float] | None:
        """(stale drops, images, stamp period [s], processing p95 [s]) when :meth:`bursty`, else None."""
        period = self.stamp_period_s()
        if self.stale_share is None or period is None or processing_p95_s is None:
            return None
        stale, images = self.stale_share
        if stale >= STALE_SHARE * images and processing_p95_s < FAST_ESTIMATOR_FRACTION * period:
            return stale, images, period, processing_p95_s
        return None

    # -- reporting -------------------------------------------------------------------------------
    def late_text(self, stream: str, threshold_s: float) -> str | None:
        found = self.late(stream, threshold_s)
        if found is None:
            return None
        count, total, low, high = found
        return (f"{stream} arrives late: {count} of its last {total} messages {low:.1f}-{high:.1f} s after their "
                f"stamps (receive time - header stamp)")

    def check(self, now_s: float, streams: tuple[str, ...], threshold_s: float,
              processing_p95_s: float | None) -> list[str]:
        """Warnings due now (each kind at most every WARN_PERIOD_S): late streams, stale drops from bursts."""
        found = [text for text in (self.late_text(s, threshold_s) for s in streams) if text]
        late_cause = ("likely cause: large messages held up by DDS (a publisher with other transport settings) "
                      "or a publisher clock off (another machine without time sync)")
        due = []
        if found:
            due.append(("late", "; ".join(found) + f"; {late_cause}. {self.dds_hint}"))
        evidence = self.burst_evidence(processing_p95_s)
        if evidence is not None:
            stale, images, period, p95_s = evidence
            due.append(("stale", f"{stale} of the last {images} images were dropped as stale although 95 % of frames "
                                 f"take under {p95_s * 1e3:.0f} ms and the camera's stamps are "
                                 f"{period * 1e3:.0f} ms apart: inputs arrive in bursts (likely cause: DDS transport "
                                 f"settings differ between the publisher and this node). {self.dds_hint}"))
        out = []
        for kind, text in due:
            if now_s - self._warned_at.get(kind, -1e9) >= WARN_PERIOD_S:
                self._warned_at[kind] = now_s
                out.append(text)
        return out

    def diagnostics(self, streams: tuple[str, ...], threshold_s: float, processing_p95_s: float | None,
                    sparse_floor_s: float | None) -> tuple[list[tuple[str, str]], list[str]]:
        """(key, value) pairs for the camera's status, and the problems to report at WARN level."""
        values: list[tuple[str, str]] = []
        problems: list[str] = []
        for stream in streams:
            delays = self._delays.get(stream)
            if delays:
                values.append((f"input delay {stream} median / max [ms]",
                               f"{median(delays) * 1e3:.0f} / {max(delays) * 1e3:.0f}"))
            text = self.late_text(stream, threshold_s)
            if text:
                problems.append(text)
        if self.stale_share is not None:
            stale, images = self.stale_share
            values.append((f"images dropped stale in the last {STALE_WINDOW_S:.0f} s", f"{stale} of {images}"))
            if self.bursty(processing_p95_s):
                problems.append(f"{stale} of {images} images dropped stale: inputs arrive in bursts")
        if sparse_floor_s is not None:
            values.append(("sparse timeout [s]", f"{self.sparse_timeout_s(sparse_floor_s):.2f}"))
        if problems:
            problems[-1] += f" ({self.dds_hint})" if self.dds_hint else ""
        return values, problems


__all__ = ["InputTiming", "SPARSE_GAP_FACTOR", "SPARSE_TIMEOUT_CAP_S", "CLOCK_MISMATCH_S", "WINDOW"]

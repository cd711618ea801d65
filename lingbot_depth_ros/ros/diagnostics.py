"""A small diagnostic_updater equivalent (diagnostic_updater is not installable everywhere).

Same shape as diagnostic_updater: an :class:`Updater` owns the ``/diagnostics`` publisher and a
timer, tasks are added with ``updater.add(name, callback)``, and each callback fills a
:class:`StatusWrapper` through ``summary(level, message)`` and ``add(key, value)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node


def level_int(value: Any) -> int:
    """DiagnosticStatus.level as an int (rclpy represents the byte field as ``bytes``)."""
    return value[0] if isinstance(value, (bytes, bytearray)) else int(value)


OK, WARN, ERROR, STALE = (level_int(DiagnosticStatus.OK), level_int(DiagnosticStatus.WARN),
                          level_int(DiagnosticStatus.ERROR), level_int(DiagnosticStatus.STALE))


class StatusWrapper:
    """Builder of one DiagnosticStatus; ``summary`` keeps the worst level and joins messages."""

    def __init__(self, name: str, hardware_id: str) -> None:
        self.name, self.hardware_id = name, hardware_id
        self.level = OK
        self.messages: list[str] = []
        self.values: list[KeyValue] = []

    def summary(self, level: int, message: str) -> None:
        """Merge a finding: a worse level replaces the message, an equal one is appended, a milder one ignored."""
        if level > self.level:
            self.level, self.messages = level, [message]
        elif level == self.level:
            self.messages.append(message)

    def add(self, key: str, value: Any) -> None:
        if isinstance(value, float):
            value = f"{value:.3g}"
        self.values.append(KeyValue(key=key, value=str(value)))

    def to_msg(self) -> DiagnosticStatus:
        text = "; ".join(m for m in self.messages if m) or "OK"
        return DiagnosticStatus(level=bytes([self.level]), name=self.name, message=text,
                                hardware_id=self.hardware_id, values=self.values)


class Updater:
    """Publishes the tasks' statuses on /diagnostics every ``period_s`` seconds."""

    def __init__(self, node: Node, period_s: float = 1.0, hardware_id: str = "none") -> None:
        self.node = node
        self.hardware_id = hardware_id
        self._tasks: list[tuple[str, Callable[[StatusWrapper], None]]] = []
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period_s, self.force_update)

    def set_period(self, period_s: float) -> None:
        self._timer.cancel()
        self.node.destroy_timer(self._timer)
        self._timer = self.node.create_timer(period_s, self.force_update)

    def add(self, name: str, task: Callable[[StatusWrapper], None]) -> None:
        self._tasks.append((name, task))

    def remove(self, name: str) -> None:
        """Stop reporting the task(s) called ``name`` (a managed node's cleanup)."""
        self._tasks = [(n, task) for n, task in self._tasks if n != name]

    def force_update(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.node.get_clock().now().to_msg()
        for name, task in self._tasks:
            status = StatusWrapper(f"{self.node.get_name()}: {name}", self.hardware_id)
            try:
                task(status)
            except Exception as exc:  # noqa: BLE001 - a broken check reports itself, never kills the node
                status.summary(ERROR, f"diagnostic task failed: {type(exc).__name__}: {exc}")
            array.status.append(status.to_msg())
        self._pub.publish(array)

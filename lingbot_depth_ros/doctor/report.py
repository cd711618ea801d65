"""One doctor finding (:class:`Check`) and how findings are printed: text for people, JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["OK", "WARN", "FAIL"]
OK: Status = "OK"
WARN: Status = "WARN"
FAIL: Status = "FAIL"
GROUPS = ("install", "gpu", "model", "graph")  # the order of the report
_ORDER = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One finding.

    ``id``: stable machine key (``graph.qos.image``); ``group``: one of :data:`GROUPS`; ``title``: what was
    checked, for people (``QoS /camera/image``); ``status``: OK / WARN / FAIL; ``summary``: what was found;
    ``advice``: one line saying what to do ('' when nothing is to be done).
    """

    id: str
    group: str
    title: str
    status: Status
    summary: str
    advice: str = ""


def worst(checks: Sequence[Check]) -> Status:
    """The worst status of ``checks`` (OK when empty)."""
    return max((c.status for c in checks), key=_ORDER.__getitem__, default=OK)


def exit_status(checks: Sequence[Check]) -> int:
    """1 when any check FAILed, else 0."""
    return 1 if any(c.status == FAIL for c in checks) else 0


def counts(checks: Sequence[Check]) -> dict[str, int]:
    """How many checks have each status."""
    return {status: sum(c.status == status for c in checks) for status in (OK, WARN, FAIL)}


def render_json(checks: Sequence[Check]) -> str:
    """``{"checks": [...], "counts": {...}, "exit_status": 0|1}`` (one object per check, fields of :class:`Check`)."""
    return json.dumps({"checks": [asdict(c) for c in checks], "counts": counts(checks),
                       "exit_status": exit_status(checks)}, indent=1)


def render_text(checks: Sequence[Check], width: int = 28) -> str:
    """The report for a terminal: per group, one line per check (status, title, summary) and its advice below."""
    lines: list[str] = []
    for group in GROUPS + tuple(sorted({c.group for c in checks} - set(GROUPS))):
        members = [c for c in checks if c.group == group]
        if not members:
            continue
        lines.append(group)
        for check in members:
            lines.append(f"  {check.status:<4}  {check.title:<{width}} {check.summary}")
            if check.advice and check.status != OK:
                lines.append(f"        {'':<{width}} -> {check.advice}")
    tally = counts(checks)
    lines.append(f"{tally[OK]} OK, {tally[WARN]} WARN, {tally[FAIL]} FAIL")
    return "\n".join(lines)

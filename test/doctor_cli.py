"""``lingbot-depth doctor --json`` through the real entry point in a subprocess, its report parsed (doctor tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT = Path(sys.executable).parent / "lingbot-depth"


def doctor(*args: str, env: dict[str, str] | None = None, python: Path | None = None,
           timeout_s: float = 120.0) -> tuple[int, dict[str, Any], str]:
    """(exit status, {check id: check} of ``lingbot-depth doctor --json ARGS``, stderr).

    ``python``: run ``python -m lingbot_depth_ros.cli.main`` of that interpreter instead of the entry point.
    Asserts what holds for every report: no traceback, the JSON's exit status is the process's, every status is
    OK / WARN / FAIL and every WARN / FAIL carries advice.
    """
    command = [str(python), "-m", "lingbot_depth_ros.cli.main"] if python else [str(ENTRY_POINT)]
    result = subprocess.run(command + ["doctor", "--json", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                            env={**os.environ, **(env or {})}, timeout=timeout_s)
    assert "Traceback" not in result.stderr, result.stderr
    if not result.stdout.strip():
        return result.returncode, {}, result.stderr
    report = json.loads(result.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    assert report["exit_status"] == result.returncode, (report, result.returncode)
    assert all(c["status"] in ("OK", "WARN", "FAIL") for c in checks.values())
    assert all(c["advice"] for c in checks.values() if c["status"] != "OK"), "every WARN / FAIL says what to do"
    return result.returncode, checks, result.stderr


def failing(checks: dict[str, Any]) -> dict[str, str]:
    """id -> status of the checks that are not OK."""
    return {cid: c["status"] for cid, c in checks.items() if c["status"] != "OK"}

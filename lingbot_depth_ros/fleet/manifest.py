"""The run's manifest in ``--out``: which units are finished (resume), and the settings they were made with.

``run.json`` holds the settings (node parameters, estimator, topics); a rerun with other settings into
the same folder is refused (its outputs would mix). Each finished unit's result is written atomically
to ``units/<input>/<start>-<stop>.json`` and then a line is appended to ``manifest.jsonl`` by the
driver alone (one writer); a unit counts as finished only when both exist, so a crash between the two
just redoes the unit, writing the same files again.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.fleet.worker import UnitResult, atomic_save


class Manifest:
    """Finished units of one output folder."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / "manifest.jsonl"

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Record ``settings`` on the first run; refuse a folder made with different ones."""
        run_file = self.out_dir / "run.json"
        text = json.dumps(settings, sort_keys=True, default=str)
        if run_file.is_file():
            previous = json.loads(run_file.read_text())
            if json.dumps(previous, sort_keys=True, default=str) != text:
                changed = sorted(k for k in set(previous) | set(settings)
                                 if json.dumps(previous.get(k), sort_keys=True, default=str)
                                 != json.dumps(settings.get(k), sort_keys=True, default=str))
                raise InputError(f"--out {self.out_dir} holds a run with other settings ({', '.join(changed)}); "
                                 "use a new --out folder")
            return
        atomic_save(run_file, lambda p: p.write_text(json.dumps(settings, indent=2, sort_keys=True, default=str)))

    def input_ids(self, inputs: Any, assign: Any) -> dict[str, str]:
        """Output names of ``inputs`` (``assign(inputs, known)``, see :func:`runner.input_ids`), remembered in
        ``inputs.json`` so that later runs into this folder give each input the same name."""
        path = self.out_dir / "inputs.json"
        known = json.loads(path.read_text()) if path.is_file() else {}
        ids = assign(inputs, known)
        known.update({input_id: str(Path(p).resolve()) for input_id, p in ids.items()})
        atomic_save(path, lambda p: p.write_text(json.dumps(known, indent=2, sort_keys=True)))
        return ids

    def result_path(self, input_id: str, start: int, stop: int) -> Path:
        return self.out_dir / "units" / input_id / f"{start:08d}-{stop:08d}.json"

    def finished(self) -> dict[str, UnitResult]:
        """unit key -> result of every unit recorded as finished (and whose result file exists)."""
        done: dict[str, UnitResult] = {}
        if not self.path.is_file():
            return done
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash: that unit is redone
            path = self.out_dir / entry["result"]
            if path.is_file():
                done[entry["unit"]] = UnitResult(**json.loads(path.read_text()))
        return done

    def record(self, result: UnitResult) -> None:
        """Persist a finished unit: result file (atomic), then the manifest line."""
        path = self.result_path(result.input_id, result.start, result.stop)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(path, lambda p: p.write_text(json.dumps(dataclasses.asdict(result), default=_json_default)))
        line = json.dumps({"unit": result.key, "input": result.input_id, "start": result.start,
                           "stop": result.stop, "result": str(path.relative_to(self.out_dir))})
        with open(self.path, "a") as manifest:
            manifest.write(line + "\n")
            manifest.flush()
            os.fsync(manifest.fileno())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")

"""The run's manifest in ``--out``: which units are finished (resume), and the settings they were made with.

``run.json`` holds the settings (node parameters, estimator, topics); a rerun with other settings into
the same folder is refused (its outputs would mix). Each finished unit's result is written atomically
to ``units/<input>/<start>-<stop>.json`` and then a line is appended to ``manifest.jsonl`` by the
driver alone (one writer); a unit counts as finished only when both exist, so a crash between the two
just redoes the unit, writing the same files again.

A rerun trusts nothing it reads back from ``--out``: every path resolves inside ``--out`` (symlinks
followed; a path leading out of it is refused before the file is opened), and every record is checked.
What a crash can leave is repaired by redoing the unit, with a warning: a manifest line that is not
complete JSON (cut while being appended) and a manifest line whose result file is missing. Anything
else is damage or tampering and stops the run with one error naming ``file:line`` and what is wrong
(``lingbot-depth batch``: exit 2): a line that is not a JSON object or lacks / mistypes a field, a
result path outside ``--out``, a result file that is not JSON or has unknown, missing or mistyped
fields or another unit's key, ``run.json`` / ``inputs.json`` that are not JSON objects, and
``manifest.jsonl`` or ``units/`` entries that are folders instead of files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lingbot_depth_ros.batch.worker import UnitResult, atomic_save
from lingbot_depth_ros.errors import InputError

#: fields of a manifest line and their JSON types
LINE_FIELDS: dict[str, type] = {"unit": str, "input": str, "start": int, "stop": int, "result": str}
_REDO = "fix or delete that line (its unit is then redone) or use a new --out folder"


def inside_out(out_dir: Path, relative: str | Path, what: str) -> Path:
    """``out_dir / relative`` resolved (symlinks followed), refused when it lies outside ``out_dir``.

    Raises:
        InputError: the path (or a symlink on it) leads out of ``out_dir``.
    """
    root = Path(out_dir).resolve()
    path = (Path(out_dir) / relative).resolve()
    if path != root and root not in path.parents:
        raise InputError(f"{what}: {str(relative)!r} leads outside --out {out_dir} (to {path}); refused")
    return path


_JSON_NAMES = {str: "string", int: "integer", float: "number", list: "list", dict: "object", bool: "boolean"}


def _json_name(kind: Any) -> str:
    """The JSON name of an annotation's type: "integer", "list"..."""
    origin = typing.get_origin(kind) or kind
    return _JSON_NAMES.get(origin, getattr(origin, "__name__", str(origin)))


def _json_type_ok(value: Any, kind: Any) -> bool:
    """``value`` (parsed JSON) fits the annotation ``kind`` (str, int, float, bool, list[...], dict[...])."""
    origin = typing.get_origin(kind) or kind
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin)


def check_result_record(record: Any) -> UnitResult:
    """A unit result file's parsed JSON as a :class:`UnitResult`, every field checked.

    Raises:
        InputError: not an object, unknown / missing / mistyped fields, or frame records without an integer
            ``index`` and a string ``status``, or with ``metrics`` that are not objects.
    """
    if not isinstance(record, dict):
        raise InputError(f"is a JSON {type(record).__name__}, not an object")
    hints = typing.get_type_hints(UnitResult)
    fields = {f.name: f for f in dataclasses.fields(UnitResult)}
    unknown = sorted(set(record) - set(fields))
    if unknown:
        raise InputError(f"has unknown fields {', '.join(unknown)}")
    missing = sorted(name for name, f in fields.items() if name not in record
                     and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    if missing:
        raise InputError(f"lacks the fields {', '.join(missing)}")
    for name, value in record.items():
        if not _json_type_ok(value, hints[name]):
            raise InputError(f"field {name!r} is {json.dumps(value)[:40]}, expected {_json_name(hints[name])}")
    for number, frame in enumerate(record.get("frames", [])):
        if not (isinstance(frame, dict) and _json_type_ok(frame.get("index"), int)
                and isinstance(frame.get("status"), str)):
            raise InputError(f"frame record {number} is not an object with an integer 'index' and a string 'status'")
        for key in ("metrics", "metrics_all"):
            if frame.get(key) is not None and not isinstance(frame[key], dict):
                raise InputError(f"frame record {number}: {key!r} is not an object")
    return UnitResult(**record)


class Manifest:
    """Finished units of one output folder."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / "manifest.jsonl"

    def _file(self, name: str) -> Path | None:
        """``--out/<name>`` resolved inside ``--out``; None when absent.

        Raises:
            InputError: it leads outside ``--out`` or is not a regular file.
        """
        path = inside_out(self.out_dir, name, str(self.out_dir / name))
        if not path.exists():
            return None
        if not path.is_file():
            raise InputError(f"{self.out_dir / name} is not a file (a folder?); remove it or use a new --out folder")
        return path

    def _json_object(self, name: str) -> dict[str, Any] | None:
        """The JSON object in ``--out/<name>`` (None when absent).

        Raises:
            InputError: outside ``--out``, not a file, not JSON, or JSON that is not an object.
        """
        path = self._file(name)
        if path is None:
            return None
        try:
            value = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.out_dir / name}: not JSON ({exc}); restore it or use a new --out folder") from None
        if not isinstance(value, dict):
            raise InputError(f"{self.out_dir / name}: a JSON {type(value).__name__}, not an object; restore it or use "
                             "a new --out folder")
        return value

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Record ``settings`` on the first run; refuse a folder made with different ones."""
        text = json.dumps(settings, sort_keys=True, default=str)
        previous = self._json_object("run.json")
        if previous is not None:
            if json.dumps(previous, sort_keys=True, default=str) != text:
                changed = sorted(k for k in set(previous) | set(settings)
                                 if json.dumps(previous.get(k), sort_keys=True, default=str)
                                 != json.dumps(settings.get(k), sort_keys=True, default=str))
                raise InputError(f"--out {self.out_dir} holds a run with other settings ({', '.join(changed)}); "
                                 "use a new --out folder")
            return
        atomic_save(self.out_dir / "run.json",
                    lambda p: p.write_text(json.dumps(settings, indent=2, sort_keys=True, default=str)))

    def known_inputs(self) -> dict[str, str]:
        """``inputs.json``: output name -> resolved input path of earlier runs ({} when none).

        Raises:
            InputError: ``inputs.json`` is unreadable, not an object of strings, or outside ``--out``.
        """
        known = self._json_object("inputs.json") or {}
        bad = [k for k, v in known.items() if not isinstance(v, str) or not k or "/" in k or k in (".", "..")]
        if bad:
            raise InputError(f"{self.out_dir / 'inputs.json'}: entry {bad[0]!r} is not output name -> input path; "
                             "restore it or use a new --out folder")
        return known

    def input_ids(self, inputs: Any, assign: Any) -> dict[str, str]:
        """Output names of ``inputs`` (``assign(inputs, known)``, see :func:`runner.input_ids`), remembered in
        ``inputs.json`` so that later runs into this folder give each input the same name."""
        known = self.known_inputs()
        ids = assign(inputs, known)
        known.update({input_id: str(Path(p).resolve()) for input_id, p in ids.items()})
        atomic_save(self.out_dir / "inputs.json", lambda p: p.write_text(json.dumps(known, indent=2, sort_keys=True)))
        return ids

    def result_path(self, input_id: str, start: int, stop: int) -> Path:
        return self.out_dir / "units" / input_id / f"{start:08d}-{stop:08d}.json"

    def finished(self, warn: Callable[[str], None] | None = None) -> dict[str, UnitResult]:
        """unit key -> result of every unit recorded as finished (and whose result file exists). Units to redo
        (a line cut by a crash, a missing result file) are left out, each with one ``warn`` message.

        Raises:
            InputError: ``file:line: what is wrong`` for a damaged or tampered record (see the module docstring).
        """
        done: dict[str, UnitResult] = {}
        manifest = self._file(self.path.name)
        if manifest is None:
            return done
        try:
            lines = manifest.read_text().splitlines()
        except UnicodeDecodeError:
            raise InputError(f"{self.path}: not a text file; restore it or use a new --out folder") from None
        for number, line in enumerate(lines, start=1):
            where = f"{self.path}:{number}"
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if warn is not None:
                    warn(f"{where}: not a complete JSON line (cut by a crash?): ignored, its unit is redone")
                continue
            unit_key, result = self._check_line(entry, where)
            if result is None:
                if warn is not None:
                    warn(f"{where}: the result file {entry['result']} of unit {unit_key} is missing: "
                         "the unit is redone")
                continue
            done[unit_key] = result
        return done

    def _check_line(self, entry: Any, where: str) -> tuple[str, UnitResult | None]:
        """(unit key, its checked result or None when the result file is missing) of one manifest line."""
        if not isinstance(entry, dict):
            raise InputError(f"{where}: a JSON {type(entry).__name__}, not an object; {_REDO}")
        for name, kind in LINE_FIELDS.items():
            if name not in entry:
                raise InputError(f"{where}: no {name!r} field; {_REDO}")
            if not _json_type_ok(entry[name], kind):
                raise InputError(f"{where}: {name!r} is {json.dumps(entry[name])[:60]}, expected {_json_name(kind)}; "
                                 f"{_REDO}")
        unknown = sorted(set(entry) - set(LINE_FIELDS))
        if unknown:
            raise InputError(f"{where}: unknown fields {', '.join(unknown)}; {_REDO}")
        path = inside_out(self.out_dir, entry["result"], f"{where}: result")
        if not path.exists():
            return entry["unit"], None
        if not path.is_file():
            raise InputError(f"{where}: result {entry['result']} is not a file; {_REDO}")
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: result file {entry['result']} is not JSON ({exc}); {_REDO}") from None
        try:
            result = check_result_record(record)
        except InputError as exc:
            raise InputError(f"{where}: result file {entry['result']} {exc}; {_REDO}") from None
        line_says = (entry["unit"], entry["input"], entry["start"], entry["stop"])
        if (result.key, result.input_id, result.start, result.stop) != line_says:
            raise InputError(f"{where}: result file {entry['result']} is for unit {result.key}, the line for "
                             f"{entry['unit']}; {_REDO}")
        return entry["unit"], result

    def record(self, result: UnitResult) -> None:
        """Persist a finished unit: result file (atomic), then the manifest line (on a line of its own even after
        a line cut by a crash)."""
        path = self.result_path(result.input_id, result.start, result.stop)
        path.parent.mkdir(parents=True, exist_ok=True)
        relative = path.relative_to(self.out_dir)
        inside_out(self.out_dir, relative.parent, f"{self.out_dir / relative.parent}")  # no symlink out of --out
        atomic_save(path, lambda p: p.write_text(json.dumps(dataclasses.asdict(result), default=_json_default)))
        line = json.dumps({"unit": result.key, "input": result.input_id, "start": result.start,
                           "stop": result.stop, "result": str(relative)})
        manifest_file = self._file(self.path.name)
        with open(self.path, "ab+") as manifest:
            if manifest_file is not None and manifest.seek(0, os.SEEK_END) > 0:
                manifest.seek(-1, os.SEEK_END)
                if manifest.read(1) != b"\n":
                    line = "\n" + line
            manifest.write((line + "\n").encode())
            manifest.flush()
            os.fsync(manifest.fileno())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")

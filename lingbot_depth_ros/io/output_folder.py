"""The output folder of a command (``lingbot-depth predict``, ``lingbot-depth batch``): created and proven
writable before any work is done."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lingbot_depth_ros.errors import InputError


def prepare_out_dir(out: Path) -> None:
    """Create the output folder (with parents) and prove it writable, before any work is done.

    Raises:
        InputError: ``out`` is an existing file, lies inside a file, or cannot be created or written
            (e.g. under /proc or read-only).
    """
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == out else f"lies inside the file {parent}"
            raise InputError(f"--out {out} {where}; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a real write, not just os.access (root, /proc, read-only mounts)
            pass
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or type(exc).__name__})") from None

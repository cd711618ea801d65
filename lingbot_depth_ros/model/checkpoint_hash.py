"""sha256 of checkpoint files, cached by path, size and modification time.

An exported engine records the sha256 of the checkpoint it was made from (``engine.json``); the
onnxruntime backend compares it with the configured checkpoint at every start. Hashing a 1.3 GB ViT-L
``model.pt`` takes about 0.8 s from the page cache on a desktop CPU with SHA instructions (1-3 s from
disk), longer on an embedded one, so the digest is kept in a small JSON file and reused while the
file's resolved path, size [bytes] and mtime [ns] are unchanged.

The cache file is ``$XDG_CACHE_HOME/lingbot_depth_ros/checkpoint_sha256.json`` (``~/.cache/...`` when
XDG_CACHE_HOME is unset or not absolute). It is best effort: an unreadable or unwritable cache only
means hashing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)
CACHE_FOLDER = "lingbot_depth_ros"
CACHE_FILE = "checkpoint_sha256.json"
CACHE_FORMAT = 1
MAX_ENTRIES = 64  # oldest entries are dropped beyond this (one per checkpoint file a machine has used)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks), no cache."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path() -> Path:
    """The cache file (see module docstring); the folder may not exist yet."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / CACHE_FOLDER / CACHE_FILE


def _read_entries(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not isinstance(data.get("files"), dict):
        return {}
    return {k: v for k, v in data["files"].items() if isinstance(v, dict)}


def _write_entries(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Atomic replace (a concurrent reader sees the old or the new file, never half of one)."""
    newest = sorted(entries.items(), key=lambda item: item[1].get("stored_ns", 0))[-MAX_ENTRIES:]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".checkpoint_sha256.", dir=path.parent)
    except OSError as exc:
        LOG.debug("checkpoint hash cache %s not written: %s", path, exc)
        return
    try:
        with os.fdopen(handle, "w") as out:
            json.dump({"format": CACHE_FORMAT, "files": dict(newest)}, out, indent=1)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        LOG.debug("checkpoint hash cache %s not written: %s", path, exc)


def cached_sha256(path: Path, *, cache: Path | None = None, refresh: bool = False) -> str:
    """sha256 of ``path``, from the cache while its resolved path, size and mtime match, else hashed and stored.

    ``refresh``: hash even when cached, and store the result (the export, which records the digest in
    ``engine.json``, does; the next start of the engine with this checkpoint then hashes nothing).

    Raises:
        OSError: the file cannot be read.
    """
    resolved = Path(path).expanduser().resolve()
    cache = cache_path() if cache is None else cache
    before = resolved.stat()
    key = str(resolved)
    entry = _read_entries(cache).get(key)
    if entry is not None and not refresh and isinstance(entry.get("sha256"), str) \
            and (entry.get("size"), entry.get("mtime_ns")) == (before.st_size, before.st_mtime_ns):
        return entry["sha256"]
    digest = sha256_of(resolved)
    after = resolved.stat()
    if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):  # not rewritten meanwhile
        entries = _read_entries(cache)  # re-read: another process may have added entries meanwhile
        entries[key] = {"size": after.st_size, "mtime_ns": after.st_mtime_ns, "sha256": digest,
                        "stored_ns": time.time_ns()}
        _write_entries(cache, entries)
    return digest

"""Progress bars of the command-line tools (tqdm): drawn when stderr is a terminal, never into a log (stderr a
pipe or a file: no carriage returns) and never with ``--quiet``; a message printed during a run stands on its
own line. ``lingbot-depth predict`` runs in a subprocess whose stderr is a pseudo-terminal or a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

INTRINSICS = ("100", "100", "64", "48")
#: what predict says on stderr about each of the images a and b
NOTES = ["a.png: focal 100.0 px (camera info)", "b.png: focal 100.0 px (camera info)"]


def _frames(folder: Path, names: tuple[str, ...], broken: str | None = None) -> tuple[Path, Path]:
    """``folder/images/<name>.png`` (RGB) and ``folder/sparse/<name>.png`` (16-bit sparse depth [mm], a plane at
    1.5-2.5 m sampled every 8th pixel) for each name; the image ``broken`` is not a PNG."""
    images, sparse = folder / "images", folder / "sparse"
    images.mkdir(parents=True)
    sparse.mkdir()
    rng = np.random.default_rng(0)
    depth_mm = np.linspace(1500, 2500, 128)[None, :].repeat(96, axis=0).astype(np.uint16)
    sampled = np.zeros_like(depth_mm)
    sampled[::8, ::8] = depth_mm[::8, ::8]
    for name in names:
        if name == broken:
            (images / f"{name}.png").write_bytes(b"not a png at all")
        else:
            assert cv2.imwrite(str(images / f"{name}.png"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
        assert cv2.imwrite(str(sparse / f"{name}.png"), sampled)
    return images, sparse


def _predict_args(images: Path, sparse: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lingbot_depth_ros.cli.main", "predict", str(images), "--sparse-depth", str(sparse),
            "--intrinsics", *INTRINSICS, "--estimator", "classical", "--out", str(out), *extra]


def _run_on_terminal(args: list[str], stdout_path: Path, timeout_s: float = 120.0) -> tuple[int, str]:
    """Run ``args`` with stderr on a 100-column pseudo-terminal; (exit code, all it wrote to stderr)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with stdout_path.open("w") as stdout:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=terminal)
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not select.select([controller], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            process.kill()
            pytest.fail(f"predict did not finish within {timeout_s:g} s: {b''.join(chunks)!r}")
        code = process.wait(timeout=timeout_s)
    finally:
        os.close(controller)
    return code, b"".join(chunks).decode()


def test_predict_draws_a_bar_on_a_terminal(tmp_path: Path) -> None:
    images, sparse = _frames(tmp_path, ("a", "b"))
    code, err = _run_on_terminal(_predict_args(images, sparse, tmp_path / "out"), tmp_path / "stdout.txt")
    assert code == 0, err
    assert "\r" in err and re.search(r"predict: 100%\|[^|]*\| 2/2 ", err), err  # tqdm's bar, redrawn in place
    assert "2/2 images written" in err
    assert (tmp_path / "stdout.txt").read_text() == ""  # paths are printed only when there is no bar


def test_predict_with_quiet_draws_nothing_on_a_terminal(tmp_path: Path) -> None:
    images, sparse = _frames(tmp_path, ("a", "b"))
    code, err = _run_on_terminal(_predict_args(images, sparse, tmp_path / "out", "--quiet"), tmp_path / "stdout.txt")
    assert code == 0, err
    assert err.replace("\r\n", "\n").splitlines() == NOTES + [f"2/2 images written to {tmp_path / 'out'}"]  # no bar
    assert len((tmp_path / "stdout.txt").read_text().split()) == 2 * 4  # four files per image, one path a line


def test_predict_into_a_log_has_no_bar(tmp_path: Path) -> None:
    images, sparse = _frames(tmp_path, ("a", "b"))
    done = subprocess.run(_predict_args(images, sparse, tmp_path / "out"), capture_output=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    # bytes, not text: universal newlines would turn a \r into a line break
    assert done.stderr.decode().split("\n") == NOTES + [f"2/2 images written to {tmp_path / 'out'}", ""]


def test_an_error_during_the_run_stands_on_its_own_line(tmp_path: Path) -> None:
    images, sparse = _frames(tmp_path, ("a", "b", "c"), broken="b")
    code, err = _run_on_terminal(_predict_args(images, sparse, tmp_path / "out"), tmp_path / "stdout.txt")
    assert code == 1, err
    # Split where the terminal starts a line or tqdm returns to redraw: the notes and the error are whole pieces.
    pieces = [piece.strip() for piece in re.split(r"[\r\n]", err)]
    errors = [piece for piece in pieces if piece.startswith("lingbot-depth predict:")]
    assert len(errors) == 1 and errors[0].endswith("b.png: cannot decode image"), err
    assert [piece for piece in pieces if "focal" in piece] == ["a.png: focal 100.0 px (camera info)",
                                                               "c.png: focal 100.0 px (camera info)"], err
    assert re.search(r"predict: 100%\|[^|]*\| 3/3 ", err) and "2/3 images written" in err, err


def test_fuse_into_a_log_has_no_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The library call with ``progress=True`` (its default) and stderr not a terminal (captured here)."""
    pytest.importorskip("open3d", reason="the fusion extra is not installed (requirements-fusion.txt)")
    from lingbot_depth_ros.bags.datasets import write_scene_bag
    from lingbot_depth_ros.fusion.offline import fuse

    write_scene_bag(tmp_path / "bag", 2, width=64, height=48, seed=1)
    summary = fuse(tmp_path / "bag", tmp_path / "out", picture=False, max_depth_m=5.0, progress=True)
    assert summary["frames_fused"] == 2
    assert capsys.readouterr().err == ""

"""Start `lingbot-depth serve` / `lingbot-depth ui` as real processes on free loopback ports (test helper)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from waiting import wait_until


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A started server process: its base URL, process and log file."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_cli(args: list[str], ready_path: str, *, timeout_s: float = 60.0) -> Iterator[RunningServer]:
    """Run ``lingbot-depth <args> --port <free>`` until ``ready_path`` answers 200; stop it afterwards.

    Fails the test (with the server log) if the process exits or never becomes ready.
    """
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(prefix="lingbot_server_", suffix=".log", delete=False)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "lingbot_depth_ros.cli.main", *args, "--port", str(port)],
                               stdout=log_file, stderr=subprocess.STDOUT, env=env)
    server = RunningServer(f"http://127.0.0.1:{port}", process, Path(log_file.name))
    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"`lingbot-depth {' '.join(args)}` exited with {process.returncode}:\n{server.log()}")
        try:
            return httpx.get(server.url + ready_path, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout_s, f"`lingbot-depth {' '.join(args)}` to answer {ready_path} with 200",
                   detail=lambda: f"server log:\n{server.log()}", poll_s=0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn/gradio shut down cleanly on Ctrl-C
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log_file.close()

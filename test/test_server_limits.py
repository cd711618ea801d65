"""HTTP API resource limits over real sockets: in-flight body bytes (503), body and header timeouts.

Each test starts `lingbot-depth serve` on a loopback port and talks raw HTTP/1.1 to it, so that
requests can be held half-sent. Every wait is bounded (socket timeouts, deadlines).
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -r requirements-server.txt)")
import httpx
from server_process import RunningServer, running_cli
from waiting import wait_until

BODY_BYTES = 20_000_000  # one large request body
MAX_BODY = 25_000_000
MAX_INFLIGHT = 50_000_000  # two large bodies fit, a third does not
N_LARGE = 10
BODY_TIMEOUT_S = 2.0
HEADER_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 8


def status_kib(pid: int, field: str) -> int:
    """A memory figure of process ``pid`` from /proc/<pid>/status (VmRSS, VmHWM) [KiB]."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def open_request(url: str, length: int, extra_headers: str = "", timeout_s: float = 30.0) -> socket.socket:
    """A socket that has sent the headers of ``POST /predict`` declaring ``length`` body bytes."""
    sock = socket.create_connection(host_port(url), timeout=timeout_s)
    sock.sendall((f"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {length}\r\n{extra_headers}\r\n").encode())
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one HTTP response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response; got {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (EOF or reset); False if it is still open at timeout."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


@pytest.fixture(scope="module")
def budget_api() -> Iterator[RunningServer]:
    with running_cli(["serve", "--max-body-bytes", str(MAX_BODY), "--max-inflight-bytes", str(MAX_INFLIGHT),
                      "--body-timeout", "60", "--log-level", "warning"], "/health") as server:
        yield server


@pytest.fixture(scope="module")
def timeout_api() -> Iterator[RunningServer]:
    with running_cli(["serve", "--body-timeout", str(BODY_TIMEOUT_S), "--header-timeout", str(HEADER_TIMEOUT_S),
                      "--max-connections", str(MAX_CONNECTIONS), "--log-level", "warning"], "/health") as server:
        yield server


def test_large_bodies_beyond_the_in_flight_budget_get_503_and_memory_stays_bounded(
        budget_api: RunningServer) -> None:
    pid = budget_api.process.pid
    health = httpx.get(budget_api.url + "/health").json()
    assert (health["max_body_bytes"], health["max_inflight_bytes"]) == (MAX_BODY, MAX_INFLIGHT)
    # Warm up the request path once, then take the baseline.
    assert httpx.post(budget_api.url + "/predict", json={"image": "AAAA"}).status_code == 400
    baseline_kib = status_kib(pid, "VmRSS")
    body = b'{"image": "' + b"A" * ((BODY_BYTES - 13) // 4 * 4) + b'"}'
    body += b" " * (BODY_BYTES - len(body))  # valid JSON and base64, not an image: answered 400 once read
    assert len(body) == BODY_BYTES
    sockets = []
    try:
        # Ten 20 MB requests, all sent but their last byte: held open together. Each sendall returns once the
        # server has read most of the body (far more than the socket buffers hold), so the first two are the
        # admitted ones; their bodies are in the server's memory before its peak is read.
        for _ in range(N_LARGE):
            sock = open_request(budget_api.url, BODY_BYTES)
            sock.sendall(body[:-1])
            sockets.append(sock)
        wait_until(lambda: status_kib(pid, "VmRSS") - baseline_kib > 1.9 * BODY_BYTES / 1024, 30,
                   "the two admitted bodies to be held in the server's memory",
                   detail=lambda: f"the server grew by {(status_kib(pid, 'VmRSS') - baseline_kib) / 1024:.0f} MiB")
        # One more that waits for "100 Continue": answered at once, without sending its body.
        polite = open_request(budget_api.url, BODY_BYTES, "Expect: 100-continue\r\n", timeout_s=10)
        status, headers, answer = read_response(polite)
        polite.close()
        assert status == 503 and headers.get("retry-after") == "2", answer
        assert b"server busy" in answer
        held_kib = status_kib(pid, "VmHWM") - baseline_kib
        # Only the two admitted bodies are kept (40 MB); unbounded, all ten were (200 MB).
        assert held_kib < 120 * 1024, f"server grew by {held_kib / 1024:.0f} MiB with {N_LARGE} bodies in flight"
        for sock in sockets[:2]:  # the other eight were answered 503 at once, without their bodies
            sock.sendall(body[-1:])
        answers = [read_response(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    statuses = [status for status, _, _ in answers]
    assert statuses[:2] == [400, 400] and statuses[2:] == [503] * (N_LARGE - 2), statuses
    assert all(headers.get("retry-after") == "2" for status, headers, _ in answers if status == 503)
    assert b"not a decodable image" in answers[0][2]
    peak_kib = status_kib(pid, "VmHWM") - baseline_kib
    print(f"server RSS: baseline {baseline_kib / 1024:.0f} MiB, +{held_kib / 1024:.0f} MiB with {N_LARGE} x "
          f"{BODY_BYTES / 1e6:.0f} MB in flight, peak +{peak_kib / 1024:.0f} MiB")
    assert peak_kib < 400 * 1024
    # The budget is released: a large body is admitted again.
    again = httpx.post(budget_api.url + "/predict", content=body, headers={"content-type": "application/json"},
                       timeout=60)
    assert again.status_code == 400, again.text


def trickle_body(url: str) -> tuple[bytes, float]:
    """Send a declared 1000-byte body one byte every 0.2 s until the server answers, then read to the end of the
    connection: (all the server sent, seconds until its answer).

    Deterministic: the server answers 408, sends a FIN and keeps reading (and dropping) what still arrives, so a
    byte that crosses its answer is not met with a TCP reset; a reset, on sending or reading, fails the test.
    """
    sock = open_request(url, 1000, timeout_s=0.2)
    started = time.monotonic()
    answer = b""
    try:
        while time.monotonic() - started < BODY_TIMEOUT_S + 8:  # bounded: fails if never cut off
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                break
            sock.sendall(b"{")
        elapsed = time.monotonic() - started
        sock.settimeout(5)
        while chunk := sock.recv(65536):  # the answer, then EOF
            answer += chunk
    finally:
        sock.close()
    return answer, elapsed


def test_a_body_sent_byte_by_byte_is_cut_off_with_408(timeout_api: RunningServer) -> None:
    answer, elapsed = trickle_body(timeout_api.url)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"not received within 2 s" in answer and b"connection: close" in answer.lower()
    assert BODY_TIMEOUT_S - 0.5 < elapsed < BODY_TIMEOUT_S + 8


def test_headers_still_incomplete_after_16_kib_get_a_json_431(timeout_api: RunningServer) -> None:
    sock = socket.create_connection(host_port(timeout_api.url), timeout=5)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 20_000)  # no end of headers yet
        status, headers, answer = read_response(sock)
    finally:
        sock.close()
    assert status == 431 and headers.get("content-type") == "application/json", answer
    assert json.loads(answer) == {"status": "error", "error": "malformed HTTP request: request headers exceed "
                                                              "16384 bytes"}


@pytest.mark.parametrize("trickle", [b"", b"POST /predict HTTP/1.1\r\nHost: test\r\nX-Slow: "])
def test_connections_without_complete_headers_are_closed(timeout_api: RunningServer, trickle: bytes) -> None:
    sock = socket.create_connection(host_port(timeout_api.url), timeout=0.2)
    started = time.monotonic()
    closed = False
    try:
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_server(sock):
                closed = True
                break
        sock.settimeout(HEADER_TIMEOUT_S + 8)
        closed = closed or closed_by_server(sock)
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert closed, "the server kept a connection open that never completed its headers"
    assert HEADER_TIMEOUT_S - 0.5 < elapsed < HEADER_TIMEOUT_S + 8


def test_open_connections_are_capped_and_idle_ones_dropped(timeout_api: RunningServer) -> None:
    idle = [socket.create_connection(host_port(timeout_api.url), timeout=5) for _ in range(MAX_CONNECTIONS + 2)]
    try:
        # busy once the server has taken the idle connections in (they are dropped HEADER_TIMEOUT_S later)
        answers: list[httpx.Response] = []
        wait_until(lambda: answers.append(httpx.get(timeout_api.url + "/health", timeout=5)) or
                   answers[-1].status_code == 503, HEADER_TIMEOUT_S + 10,
                   f"/health to answer 503 with {MAX_CONNECTIONS + 2} idle connections open")
        busy = answers[-1]  # overload, told apart from an estimator failure: JSON "server busy" + Retry-After
        assert busy.headers["content-type"] == "application/json" and busy.headers.get("retry-after") == "2"
        assert busy.json()["status"] == "error", busy.text
        assert re.fullmatch(rf"server busy: \d+ connections are open \(limit {MAX_CONNECTIONS}\); retry after 2 s",
                            busy.json()["error"]), busy.text
        wait_until(lambda: httpx.get(timeout_api.url + "/health", timeout=5).status_code == 200,
                   HEADER_TIMEOUT_S + 10, "the idle connections to be dropped (/health 200 again)", poll_s=0.2)
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize("length", [MAX_BODY + 1, 10**19])
def test_a_declared_body_over_the_limit_is_refused_at_once(budget_api: RunningServer, length: int) -> None:
    # the body timeout is 60 s: an answer within 5 s is not the body timing out
    sock = open_request(budget_api.url, length, timeout_s=5)
    try:
        status, headers, answer = read_response(sock)
        assert closed_by_server(sock)
    finally:
        sock.close()
    assert status == 413 and headers.get("connection") == "close", answer
    assert json.loads(answer) == {"status": "error",
                                  "error": f"request body of {length} bytes exceeds the limit of {MAX_BODY} bytes"}


@pytest.mark.parametrize("value, reason", [("abc", "bad Content-Length"), ("-1", "bad Content-Length"),
                                           ("1" + "0" * 20, "bad Content-Length"),  # over h11's 20 digits
                                           ("10, 20", "conflicting Content-Length headers")])
def test_a_malformed_content_length_gets_a_json_400(timeout_api: RunningServer, value: str, reason: str) -> None:
    sock = socket.create_connection(host_port(timeout_api.url), timeout=5)
    try:
        sock.sendall(f"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: {value}\r\n\r\n".encode())
        status, headers, answer = read_response(sock)
    finally:
        sock.close()
    assert status == 400 and headers.get("content-type") == "application/json", answer
    assert json.loads(answer) == {"status": "error", "error": f"malformed HTTP request: {reason}"}


def test_an_upload_refused_early_is_read_to_its_end_not_reset(budget_api: RunningServer) -> None:
    """The 413 goes out as soon as the headers declare too much; the server then reads and drops the rest of the
    body instead of closing on it (closing with unread data sends a TCP reset), so a client that uploads its
    whole body before reading, as httpx and requests do, gets the 413."""
    length = MAX_BODY + 5_000_000  # far more than the socket buffers hold
    sock = open_request(budget_api.url, length)
    try:
        sock.sendall(b"A" * length)  # raises ConnectionResetError if the server closed without reading
        sock.shutdown(socket.SHUT_WR)
        status, _, answer = read_response(sock)
        assert closed_by_server(sock)
    finally:
        sock.close()
    assert status == 413 and b"exceeds the limit" in answer, answer


def chunked_request(url: str) -> socket.socket:
    """A socket that has sent the headers of ``POST /predict`` with a chunked body (no Content-Length)."""
    sock = socket.create_connection(host_port(url), timeout=30)
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    return sock


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def test_chunked_uploads_beyond_the_in_flight_budget_get_503(budget_api: RunningServer) -> None:
    """Three 20 MB chunked bodies (no Content-Length) sent side by side: 60 MB do not fit in the 50 MB budget,
    so the one whose bytes cross it is refused with 503 + Retry-After; the other two fit once it let go."""
    piece = b"A" * 1_000_000
    sockets = [chunked_request(budget_api.url) for _ in range(3)]
    try:
        for sock in sockets:
            sock.sendall(chunk(b'{"image": "'))
        for _ in range(BODY_BYTES // len(piece)):
            for sock in sockets:
                sock.sendall(chunk(piece))
        for sock in sockets:
            sock.sendall(chunk(b'"}') + b"0\r\n\r\n")
        answers = [read_response(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert sorted(status for status, _, _ in answers) == [400, 400, 503], answers
    _, headers, answer = next(a for a in answers if a[0] == 503)
    assert headers.get("retry-after") == "2" and b"server busy" in answer, answer


def test_timed_out_bodies_give_their_budget_back(timeout_api: RunningServer) -> None:
    """Two bodies declaring the largest size fill the default in-flight budget (2 x the body limit); once both
    have timed out (408) the budget is free again: a request is served, not refused as busy."""
    health = httpx.get(timeout_api.url + "/health").json()
    assert health["max_inflight_bytes"] == 2 * health["max_body_bytes"]
    sockets = [open_request(timeout_api.url, health["max_body_bytes"], timeout_s=BODY_TIMEOUT_S + 8)
               for _ in range(2)]
    try:
        statuses = [read_response(sock)[0] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert statuses == [408, 408]
    largest = b'{"image": "AAAA"}'.ljust(health["max_body_bytes"])  # fits only while at most one is held
    response = httpx.post(timeout_api.url + "/predict", content=largest, headers={"content-type": "application/json"},
                          timeout=60)
    assert response.status_code == 400 and "not a decodable image" in response.json()["error"], response.text

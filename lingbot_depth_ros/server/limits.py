"""Resource limits of the HTTP API: request body size, in-flight body bytes, read timeouts, connections.

- :class:`RequestLimitsMiddleware` (ASGI) reads every request body itself, before the app sees it. A
  declared ``Content-Length`` over ``max_body_bytes`` answers 413 at once; a declared body that does not
  fit in the in-flight budget (body bytes held by all requests in progress, ``max_inflight_bytes``)
  answers 503 with ``Retry-After`` at once; a chunked body (no ``Content-Length``) is counted as it
  arrives and answered 413 / 503 the moment it passes either limit; a body not received within
  ``body_timeout_s`` answers 408. Each of these answers closes the connection without reading the rest
  of the body. Bytes stay reserved until the response is sent, so bodies waiting for the
  one-at-a-time estimator are counted too.
- :func:`limited_h11_protocol` is uvicorn's h11 protocol with

  * a header timeout: a connection that has not finished sending a request's headers
    ``header_timeout_s`` after it opened (or after its previous response) is closed, so idle and
    slow-header ("slow loris") sockets do not pile up;
  * a connection cap answered in JSON: with more than ``max_connections`` connections open, a request
    answers 503 ``{"status": "error", "error": "server busy: ..."}`` with ``Retry-After`` (uvicorn's own
    cap answers plain text without it);
  * malformed requests (bad ``Content-Length``, oversized headers...) answered in JSON with the status
    h11 suggests (400, 431 headers too large, 501 unsupported transfer coding);
  * a lingering close: when a response closes the connection while the client is still sending its
    request body, the server sends the response and a FIN, then reads and discards what still arrives
    until the client closes, sends nothing for :data:`LINGER_IDLE_S`, or ``linger_s`` has passed.
    Closing a socket with unread data makes the kernel send a TCP reset, which can destroy the
    response before the client reads it; lingering lets a client that uploads a whole body before
    reading (httpx, requests) see the 413/503/408. Discarded bytes are not stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from http import HTTPStatus
from typing import Any, cast

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

LOG = logging.getLogger("lingbot_depth_ros.server")
DEFAULT_RETRY_AFTER_S = 2
LINGER_IDLE_S = 5.0  # a lingering connection is closed once the client has sent nothing for this long [s]


class _Refused(Exception):
    """A request is answered by the server itself: ``status``, ``message``, extra headers."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None,
                 close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        self.close = close


def _busy(what: str, retry_after_s: int) -> _Refused:
    """503 for an overloaded server: the client should retry after ``retry_after_s`` [s]."""
    return _Refused(503, f"server busy: {what}; retry after {retry_after_s} s",
                    [(b"retry-after", str(retry_after_s).encode())], close=True)


class InflightBudget:
    """Bytes of request bodies held by requests in progress, against a fixed budget [bytes].

    Used from the event loop only (no locking needed).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.in_use = 0

    def try_reserve(self, n_bytes: int) -> bool:
        """Reserve ``n_bytes`` if they fit; returns whether they did."""
        if self.in_use + n_bytes > self.max_bytes:
            return False
        self.in_use += n_bytes
        return True

    def release(self, n_bytes: int) -> None:
        self.in_use = max(0, self.in_use - n_bytes)


class RequestLimitsMiddleware:
    """Per-request body cap (413), global in-flight byte budget (503 + Retry-After), body timeout (408)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_inflight_bytes: int, body_timeout_s: float,
                 retry_after_s: int = DEFAULT_RETRY_AFTER_S) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.budget = InflightBudget(max_inflight_bytes)
        self.body_timeout_s = body_timeout_s
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reader = _BodyReader(self, scope, receive)
        try:
            try:
                body = await reader.read()
            except _Refused as refusal:
                await _answer(send, refusal)
                return
            if body is None:  # the client went away
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
        finally:  # refused, timed out, disconnected or answered: the bytes are free again
            reader.release()


class _BodyReader:
    """Reads one request body under the limits of a :class:`RequestLimitsMiddleware`."""

    def __init__(self, limits: RequestLimitsMiddleware, scope: Scope, receive: Receive) -> None:
        self.limits = limits
        self.receive = receive
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")  # h11 has checked it: 1 to 20 digits
        self.declared = int(declared) if declared.isdigit() else None
        self.reserved = 0
        self.deadline = asyncio.get_running_loop().time() + limits.body_timeout_s

    def _too_large(self, declared: int | None) -> _Refused:
        size = f" of {declared} bytes" if declared is not None else ""
        return _Refused(413, f"request body{size} exceeds the limit of {self.limits.max_body_bytes} bytes",
                        close=True)

    def _busy(self) -> _Refused:
        budget = self.limits.budget
        return _busy(f"{budget.in_use} bytes of request bodies are in progress (limit {budget.max_bytes})",
                     self.limits.retry_after_s)

    async def _next(self) -> Message:
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            return await asyncio.wait_for(self.receive(), remaining)
        except TimeoutError:
            raise _Refused(408, f"request body not received within {self.limits.body_timeout_s:g} s",
                           close=True) from None

    def _reserve(self, n_bytes: int) -> None:
        if not self.limits.budget.try_reserve(n_bytes):
            raise self._busy()
        self.reserved += n_bytes

    async def read(self) -> bytes | None:
        """The whole body (reserved in the budget until :meth:`release`), None if the client disconnected.

        Raises:
            _Refused: over the size cap or the in-flight budget (before reading further), or too slow.
        """
        limits = self.limits
        if self.declared is not None:
            if self.declared > limits.max_body_bytes:
                raise self._too_large(self.declared)
            self._reserve(self.declared)
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await self._next()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise self._too_large(None)
            if self.declared is None and chunk:  # chunked upload: reserve as it arrives
                self._reserve(len(chunk))
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def release(self) -> None:
        self.limits.budget.release(self.reserved)
        self.reserved = 0


def _error_payload(message: str) -> bytes:
    return json.dumps({"status": "error", "error": message}).encode()


async def _answer(send: Send, refusal: _Refused) -> None:
    if refusal.status != 413:
        LOG.warning("refused a request: %s", refusal.message)
    payload = _error_payload(refusal.message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               *refusal.headers]
    if refusal.close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class _LingeringTransport:
    """A connection's transport whose ``close()`` lingers while the client is still sending a request body.

    Lingering: FIN after the response already written, then every byte that arrives is discarded (the
    protocol asks :attr:`lingering` before parsing) until the client closes (EOF closes the transport),
    has sent nothing for :data:`LINGER_IDLE_S`, or ``linger_s`` [s] have passed. Everything else is the
    wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, conn: h11.Connection, loop: asyncio.AbstractEventLoop,
                 linger_s: float) -> None:
        self._transport = transport
        self._conn = conn
        self._loop = loop
        self._linger_s = linger_s
        self.lingering = False
        self._started = self._last_data = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering:
            return  # the linger timer closes it
        if (self._transport.is_closing() or self._conn.their_state is not h11.SEND_BODY
                or not self._transport.can_write_eof()):
            self._transport.close()
            return
        self.lingering = True
        self._started = self._last_data = self._loop.time()
        self._transport.write_eof()  # after the buffered response
        self._transport.resume_reading()
        self._timer = self._loop.call_later(LINGER_IDLE_S, self._check)

    def close_now(self) -> None:
        """Close without (further) lingering."""
        if self._timer is not None:
            self._timer.cancel()
        self._transport.close()

    def discarded(self) -> None:
        """Bytes arrived while lingering (and were dropped)."""
        self._last_data = self._loop.time()
        if self._last_data - self._started > self._linger_s:
            self.close_now()

    def _check(self) -> None:
        now = self._loop.time()
        left = min(self._last_data + LINGER_IDLE_S, self._started + self._linger_s) - now
        if left <= 0 or self._transport.is_closing():
            self.close_now()
        else:
            self._timer = self._loop.call_later(left, self._check)


def limited_h11_protocol(*, header_timeout_s: float, max_connections: int, linger_s: float,
                         retry_after_s: int = DEFAULT_RETRY_AFTER_S) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a header timeout, a JSON connection cap and a lingering close.

    Args:
        header_timeout_s: a request's headers must be complete this long [s] after the connection opened
            or after its previous response, else the connection is closed. Satisfied as soon as the
            headers have been parsed (the request body has its own timeout).
        max_connections: with more connections open, requests answer 503 with ``Retry-After`` (JSON).
            Run uvicorn without its own ``limit_concurrency``.
        linger_s: longest lingering close [s] (see the module docstring).
        retry_after_s: the ``Retry-After`` of the connection cap [s].
    """

    class LimitedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _lingering: _LingeringTransport  # the connection's transport (self.transport), set by connection_made

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.app = self._capped(self.app)

        def _capped(self, app: Any) -> Any:
            async def capped_app(scope: Scope, receive: Receive, send: Send) -> None:
                open_connections = len(self.connections)
                if open_connections > max_connections or len(self.tasks) > max_connections:
                    await _answer(send, _busy(f"{open_connections} connections are open (limit "
                                              f"{max_connections})", retry_after_s))
                    return
                await app(scope, receive, send)

            return capped_app

        def connection_made(self, transport: Any) -> None:
            self._lingering = _LingeringTransport(transport, self.conn, self.loop, linger_s)
            # a Transport by delegation: every attribute it does not define is the wrapped transport's
            super().connection_made(cast(asyncio.Transport, self._lingering))
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            if self._lingering.lingering:
                self._lingering.discarded()
                return
            super().data_received(data)

        def send_400_response(self, msg: str) -> None:
            """Answer a request h11 cannot parse in JSON (called while h11's RemoteProtocolError is handled)."""
            exc = sys.exc_info()[1]
            status, reason = 400, msg.rstrip(".")
            if isinstance(exc, h11.RemoteProtocolError):
                status = exc.error_status_hint
                reason = str(exc) or reason
                if status == 431:
                    reason = f"request headers exceed {self.config.h11_max_incomplete_event_size} bytes"
            payload = _error_payload(f"malformed HTTP request: {reason}")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                       (b"connection", b"close")]
            response = h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode())
            for event in (response, h11.Data(data=payload),
                          h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def shutdown(self) -> None:
            if self._lingering.lingering:
                self._lingering.close_now()
                return
            super().shutdown()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._lingering.close_now()  # no-op on the closed socket; stops a linger timer
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            if self.transport.is_closing():
                return
            self._header_timer = self.loop.call_later(header_timeout_s, self._on_header_timeout, self.cycle)

        def _on_header_timeout(self, cycle_when_armed: object) -> None:
            new_request_started = self.cycle is not cycle_when_armed
            if new_request_started or self.transport.is_closing():
                return
            LOG.info("closing a connection that sent no complete request headers within %g s", header_timeout_s)
            self.transport.close()

    return LimitedH11Protocol

"""Resource limits of the HTTP API: request body size, in-flight body bytes, read timeouts.

- :class:`RequestLimitsMiddleware` (ASGI) reads every request body itself, before the app sees it:
  a body over ``max_body_bytes`` answers 413; when admitting a body would take the bytes held by
  all requests in progress over ``max_inflight_bytes`` it answers 503 with ``Retry-After``; a body
  not received within ``body_timeout_s`` answers 408 and the connection is closed. Bytes stay
  reserved until the response is sent, so bodies waiting for the one-at-a-time estimator are
  counted too.
- :func:`header_timeout_protocol` is uvicorn's h11 protocol with one more timer: a connection that
  has not finished sending a request's headers ``header_timeout_s`` after it opened (or after its
  previous response) is closed, so idle and slow-header ("slow loris") sockets do not pile up.

Refused bodies whose size is declared are read and discarded (within the body timeout) before the
answer, so that ordinary clients see the 413/503 instead of a reset connection; a client that sent
``Expect: 100-continue`` is answered at once and sends nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

LOG = logging.getLogger("lingbot_depth_ros.server")


class _Refused(Exception):
    """A request is answered by the middleware itself: ``status``, ``message``, extra headers."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None,
                 close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        self.close = close


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
                 retry_after_s: int = 2) -> None:
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
            body = await reader.read()
        except _Refused as refusal:
            await _answer(send, refusal)
            return
        if body is None:  # the client went away
            self.budget.release(reader.reserved)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay, send)
        finally:
            self.budget.release(reader.reserved)


class _BodyReader:
    """Reads one request body under the limits of a :class:`RequestLimitsMiddleware`."""

    def __init__(self, limits: RequestLimitsMiddleware, scope: Scope, receive: Receive) -> None:
        self.limits = limits
        self.receive = receive
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        self.declared = int(declared) if declared.isdigit() else None
        self.expects_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        self.reserved = 0
        self.deadline = asyncio.get_running_loop().time() + limits.body_timeout_s

    def _too_large(self, declared: int | None) -> _Refused:
        size = f" of {declared} bytes" if declared is not None else ""
        return _Refused(413, f"request body{size} exceeds the limit of {self.limits.max_body_bytes} bytes")

    def _busy(self) -> _Refused:
        budget = self.limits.budget
        return _Refused(503, f"server busy: {budget.in_use} bytes of request bodies are in progress (limit "
                             f"{budget.max_bytes}); retry after {self.limits.retry_after_s} s",
                        [(b"retry-after", str(self.limits.retry_after_s).encode())])

    async def _next(self) -> Message:
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            return await asyncio.wait_for(self.receive(), remaining)
        except TimeoutError:
            raise _Refused(408, f"request body not received within {self.limits.body_timeout_s:g} s",
                           close=True) from None

    async def _refuse_after_draining(self, refusal: _Refused) -> None:
        """Answer ``refusal``; first read and discard the rest of the body unless the client waits for 100."""
        if self.expects_continue:
            refusal.close = True
            raise refusal
        more = True
        while more:
            message = await self._next()
            if message["type"] == "http.disconnect":
                break
            more = message.get("more_body", False)
        raise refusal

    async def read(self) -> bytes | None:
        """The whole body (reserved in the budget), None if the client disconnected.

        Raises:
            _Refused: over the size cap, over the in-flight budget, or too slow.
        """
        limits = self.limits
        if self.declared is not None:
            if self.declared > limits.max_body_bytes:
                await self._refuse_after_draining(self._too_large(self.declared))
            if not limits.budget.try_reserve(self.declared):
                await self._refuse_after_draining(self._busy())
            self.reserved = self.declared
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await self._next()
            if message["type"] == "http.disconnect":
                limits.budget.release(self.reserved)
                self.reserved = 0
                return None
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            received += len(chunk)
            if received > limits.max_body_bytes:
                self._release()
                await self._refuse_after_draining(self._too_large(None))
            if self.declared is None and chunk:  # chunked upload: reserve as it arrives
                if not limits.budget.try_reserve(len(chunk)):
                    self._release()
                    await self._refuse_after_draining(self._busy())
                self.reserved += len(chunk)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _release(self) -> None:
        self.limits.budget.release(self.reserved)
        self.reserved = 0


async def _answer(send: Send, refusal: _Refused) -> None:
    if refusal.status != 413:
        LOG.warning("refused a request: %s", refusal.message)
    payload = json.dumps({"status": "error", "error": refusal.message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               *refusal.headers]
    if refusal.close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def header_timeout_protocol(header_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request headers are not complete in time.

    The timer starts when the connection opens and again after each response; it is satisfied as
    soon as the next request's headers have been parsed (the request body has its own timeout).
    """

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:  # noqa: ANN401 (asyncio's signature)
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
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

    return HeaderTimeoutH11Protocol

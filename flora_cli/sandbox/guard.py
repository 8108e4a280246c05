"""What keeps a sandbox that people leave running in CI up under load and hostile clients:

- `GuardedH11Protocol`: a client that has not sent a request's headers within
  `header_timeout` seconds is dropped (uvicorn has no such limit: a slow-header client would
  hold its connection for ever); at most `max_connections` connections are open at once — a
  new one beyond the cap evicts the oldest connection still waiting for its headers (the
  slowloris), or is closed at once when every connection is busy with a real request.
- `BodyLimit`: a request body over `max_body_bytes` gets 413 without being read whole
  (Content-Length checked first; a chunked body counted as it arrives).
- `log_loop_errors_once`: an accept-loop error (EMFILE, …) is logged once per kind, not once
  per attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

LogFn = Callable[[str], None]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection cap (class attributes,
    set per server by `guarded_protocol`)."""

    header_timeout: float = 10.0
    max_connections: int = 256

    _flora_timer: asyncio.TimerHandle | None = None
    _flora_waiting: bool = False
    _flora_since: float = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connections: set[Any] = self.server_state.connections
        crowded = len(connections) >= self.max_connections
        super().connection_made(transport)
        if crowded:
            waiting = [c for c in connections
                       if c is not self and getattr(c, "_flora_waiting", False)]
            if waiting:
                oldest = min(waiting, key=lambda c: c._flora_since)
                oldest.transport.close()
            else:
                transport.close()
                return
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._flora_waiting = True
        self._flora_since = self.loop.time()
        self._flora_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        self._flora_waiting = False
        if self._flora_timer is not None:
            self._flora_timer.cancel()
            self._flora_timer = None

    def _headers_too_slow(self) -> None:
        self._flora_timer = None
        if self._flora_waiting and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's headers arrived
            self._disarm()

    def on_response_complete(self) -> None:
        # The next request on this connection gets the same deadline for its headers.
        if not self.transport.is_closing():
            self._arm()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": header_timeout, "max_connections": max_connections})


class _TooLarge(Exception):
    pass


def too_large_body(limit: int) -> bytes:
    return (b'{"error":{"code":"payload_too_large","message":"The request body is larger than '
            + str(limit).encode() + b' bytes."}}')


async def send_413(send: Send, limit: int, request_id: str) -> None:
    body = too_large_body(limit)
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), (b"request-id", request_id.encode())]})
    await send({"type": "http.response.body", "body": body})


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def counting_receive(receive: Receive, limit: int) -> Receive:
    """`receive` that raises `_TooLarge` once more than `limit` body bytes arrived."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
        return message

    return wrapped


TooLarge = _TooLarge
__all__ = ["ASGIApp", "GuardedH11Protocol", "TooLarge", "counting_receive", "declared_length",
           "guarded_protocol", "log_loop_errors_once", "send_413"]


def log_loop_errors_once(loop: asyncio.AbstractEventLoop, log: LogFn | None) -> None:
    """Log each kind of event-loop error (accept failures such as EMFILE) once."""
    seen: set[str] = set()

    def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        kind = f"{context.get('message', 'error')}: {type(exc).__name__ if exc else ''}"
        if kind in seen:
            return
        seen.add(kind)
        text = f"sandbox: {context.get('message', 'event loop error')}"
        if exc is not None:
            text += f" ({type(exc).__name__}: {exc})"
        text += " (logged once; the server keeps serving)"
        if log is not None:
            log(text)

    loop.set_exception_handler(handler)

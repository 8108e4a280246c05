"""SPEC §8: a sandbox people leave running in CI stays up under hostile clients — bodies over
the limit get 413 without being read whole, clients that do not send their headers in time are
dropped, connections are capped (the oldest slow-header one is evicted), and a normal request
is still answered. Caps are lowered through SandboxConfig so the test stays quick."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx

from flora_cli.sandbox.server import RunningSandbox

HEADERS = {"authorization": "Bearer sk_test_soak", "content-type": "application/json"}


def _connect(sb: RunningSandbox) -> socket.socket:
    return socket.create_connection(("127.0.0.1", sb.port), timeout=10)


def _response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body)."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _closed(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except OSError:
        return False


def test_an_oversized_body_is_refused_unread(
        make_sandbox: Callable[..., RunningSandbox]) -> None:
    sb = make_sandbox(max_body_bytes=64 * 1024)
    # a declared 800 MB body: 413 at once, before any of it is sent
    with _connect(sb) as sock:
        sock.sendall(b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     b"sk_test_soak\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 838860800\r\n\r\n")
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert b"payload_too_large" in answer
    # a chunked body is counted as it arrives
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 4096

    r = httpx.post(f"{sb.base_url}/generate", headers=HEADERS, content=chunks())
    assert r.status_code == 413
    assert r.headers["request-id"].startswith("req_")


def test_slow_header_clients_beyond_the_cap_do_not_starve_it(
        make_sandbox: Callable[..., RunningSandbox]) -> None:
    sb = make_sandbox(max_connections=8, header_timeout=1.5)
    slow = [_connect(sb) for _ in range(30)]  # far beyond the cap
    for s in slow:
        s.sendall(b"GET /api/v1/workspaces HTTP/1.1\r\nHost: x\r\n")  # never finished
    started = time.monotonic()
    r = httpx.get(f"{sb.base_url}/workspaces", headers=HEADERS, timeout=10)
    assert r.status_code == 200  # evicts a slowloris instead of waiting behind them
    assert time.monotonic() - started < 5
    # every slow client is gone within the header deadline (or was evicted before)
    assert all(_closed(s, 5) for s in slow)
    for s in slow:
        s.close()
    r = httpx.get(f"{sb.base_url}/workspaces", headers=HEADERS, timeout=10)
    assert r.status_code == 200


def test_a_keep_alive_connection_gets_the_header_deadline_again(
        make_sandbox: Callable[..., RunningSandbox]) -> None:
    sb = make_sandbox(header_timeout=1.0)
    with _connect(sb) as sock:
        sock.sendall(b"GET /api/v1/workspaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     b"sk_test_soak\r\n\r\n")
        assert _response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /api/v1/workspaces HTTP/1.1\r\n")  # then silence
        assert _closed(sock, 6)


def test_accept_loop_errors_are_logged_once() -> None:
    import asyncio

    from flora_cli.sandbox.guard import log_loop_errors_once

    lines: list[str] = []
    loop = asyncio.new_event_loop()
    try:
        log_loop_errors_once(loop, lines.append)
        for _ in range(1000):
            loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                         "exception": OSError(24, "Too many open files")})
    finally:
        loop.close()
    assert len(lines) == 1 and "Too many open files" in lines[0]

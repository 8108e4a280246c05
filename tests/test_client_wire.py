"""The transport loop's wire path: httpx's httpcore pool driven directly, held writes, headers
read as httpx reads them, the same request on the wire as through an httpx transport."""

from __future__ import annotations

import socket
from typing import Any

import httpcore
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flora_cli.api.client import FloraClient
from flora_cli.api.viahttpx import DeadlineStream as _DeadlineStream
from flora_cli.api.wire import decode_headers as _decode_headers
from tests.hostile.rawserver import Request, raw_server, respond

KEY = "sk_test_WIRE0123456789"


class Recorder(httpcore.NetworkStream):
    """An inner stream that records what is written and answers reads from a script."""

    def __init__(self, *, fail_writes: bool = False) -> None:
        self.log: list[tuple[str, bytes]] = []
        self.fail_writes = fail_writes

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.log.append(("read", b""))
        return b"HTTP/1.1 200 OK\r\n\r\n"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.log.append(("write", buffer))
        if self.fail_writes:
            raise httpcore.WriteError("connection reset by peer")

    def close(self) -> None:
        self.log.append(("close", b""))


def test_a_request_head_and_body_leave_in_one_write() -> None:
    inner = Recorder()
    stream = _DeadlineStream(inner)
    stream.write(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
    stream.write(b"{}")
    stream.write(b"")
    assert inner.log == []
    stream.read(65536)
    assert inner.log == [("write", b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"),
                         ("read", b"")]
    stream.read(65536)  # nothing held: no write
    assert [kind for kind, _ in inner.log] == ["write", "read", "read"]


def test_a_large_body_is_not_held_back() -> None:
    inner = Recorder()
    stream = _DeadlineStream(inner)
    stream.write(b"h" * 10)
    stream.write(b"b" * _DeadlineStream.HOLD)
    assert inner.log == [("write", b"h" * 10 + b"b" * _DeadlineStream.HOLD)]


def test_a_failed_held_write_still_reads_the_answer() -> None:
    """httpcore reads the answer after a failed request write (a server may refuse early and
    close); holding the write must not change that."""
    inner = Recorder(fail_writes=True)
    stream = _DeadlineStream(inner)
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert stream.read(65536).startswith(b"HTTP/1.1 200")
    assert [kind for kind, _ in inner.log] == ["write", "read"]


def test_closing_drops_what_is_held() -> None:
    inner = Recorder()
    stream = _DeadlineStream(inner)
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    stream.close()
    assert inner.log == [("close", b"")]


_names = st.sampled_from([b"Request-Id", b"request-id", b"Retry-After", b"X-A", b"x-a",
                          b"Content-Type", b"Link"])
_values = st.binary(max_size=12).map(lambda b: bytes(c for c in b if c not in b"\r\n\0"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=8))
def test_headers_are_read_as_httpx_reads_them(raw: list[tuple[bytes, bytes]]) -> None:
    expected = {k.lower(): v for k, v in httpx.Headers(raw).items()}
    assert _decode_headers(raw) == expected


def _wire_request(handler: Any, method: str = "POST", body: dict[str, Any] | None = None,
                  ) -> tuple[Request, Any]:
    with raw_server({"/api/v1/x": handler}) as srv:
        with FloraClient(api_key=KEY, base_url=srv.base_url, max_retries=0) as client:
            resp = client.request(method, "/x", body=body, idempotency_key="idem-w")
        return srv.requests[0], resp


def test_the_wire_request_carries_what_httpx_would_send() -> None:
    """The same header names, values and body reach a real socket as an httpx transport is
    given (the unit tests' MockTransport sees the latter)."""
    seen: list[httpx.Request] = []

    def mock(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True})

    body = {"prompt": "a mug ☕", "n": 1}
    req, resp = _wire_request(lambda conn, r: respond(conn, 201, {"ok": True}), body=body)
    assert resp.data == {"ok": True}
    FloraClient(api_key=KEY, base_url=f"http://127.0.0.1:{req.headers['host'].split(':')[1]}"
                "/api/v1", transport=httpx.MockTransport(mock),
                max_retries=0).request("POST", "/x", body=body, idempotency_key="idem-w")
    via_mock = {k.lower(): v for k, v in seen[0].headers.items()}
    assert req.headers == via_mock
    assert req.body == seen[0].content
    assert req.headers["content-length"] == str(len(req.body))
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.path == "/api/v1/x"


def test_a_post_without_body_says_content_length_zero() -> None:
    req, _ = _wire_request(lambda conn, r: respond(conn, 200, {}), body=None)
    assert req.headers["content-length"] == "0"
    req, _ = _wire_request(lambda conn, r: respond(conn, 200, {}), method="GET")
    assert "content-length" not in req.headers


def test_repeated_and_non_ascii_response_headers() -> None:
    def handler(conn: socket.socket, r: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n"
                     b"Request-Id: req_\xe9\r\n\r\n{}")

    _, resp = _wire_request(handler)
    assert resp.headers["x-a"] == "1, 2"
    assert resp.request_id == "req_\xe9"  # not UTF-8: ISO-8859-1, as httpx reads it


@pytest.mark.parametrize("declared", [10, 1])
def test_a_body_shorter_or_longer_than_content_length_fails(declared: int) -> None:
    """h11 and the loop's own count both see a body that breaks its Content-Length."""
    from flora_cli.api import errors

    def handler(conn: socket.socket, r: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{}" % declared)
        conn.close()

    with pytest.raises(errors.FloraError):  # 1 cuts the JSON short, 10 is never reached
        _wire_request(handler)

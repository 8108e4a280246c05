"""The direct wire (`flora_cli.api.wire`: h11 on our own sockets) on real sockets: keep-alive
reuse, connections the server closed or spoiled, the keep-alive expiry, a resolver bounded by
the deadline, TLS verified against SSL_CERT_FILE, and proxies still honoured through httpx."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flora_cli.api import errors, wire
from flora_cli.api.client import FloraClient
from tests.hostile.rawserver import Request, raw_server, respond

KEY = "sk_test_DIRECT0123456789"
Answer = Callable[[socket.socket, int], None]


class CountingServer:
    """A keep-alive HTTP/1.1 server that counts its connections; `answer(conn, n)` writes the
    n-th response (n counts requests over all connections)."""

    def __init__(self, answer: Answer, context: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.context = context
        self.connections = 0
        self.requests = 0
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = raw if self.context is None else self.context.wrap_socket(raw,
                                                                             server_side=True)
        except OSError:
            raw.close()
            return
        with contextlib.suppress(OSError), contextlib.closing(conn):
            conn.settimeout(10)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                with self._lock:
                    self.requests += 1
                    n = self.requests
                self.answer(conn, n)
                if conn.fileno() < 0:
                    return

    def close(self) -> None:
        self.sock.close()


def ok(conn: socket.socket, n: int, extra: bytes = b"") -> None:
    body = json.dumps({"n": n}).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d"
                 b"\r\n\r\n%s%s" % (len(body), body, extra))


@contextlib.contextmanager
def serving(answer: Answer, context: ssl.SSLContext | None = None) -> Iterator[CountingServer]:
    srv = CountingServer(answer, context)
    try:
        yield srv
    finally:
        srv.close()


def client_for(srv: CountingServer, scheme: str = "http", **kw: Any) -> FloraClient:
    return FloraClient(api_key=KEY, base_url=f"{scheme}://127.0.0.1:{srv.port}/api/v1",
                       max_retries=0, **kw)


def test_requests_share_one_kept_alive_connection() -> None:
    with serving(ok) as srv, client_for(srv) as client:
        seen = [client.request("GET", "/x").data["n"] for _ in range(5)]
    assert seen == [1, 2, 3, 4, 5]
    assert srv.connections == 1


def test_a_connection_the_server_closed_is_not_reused() -> None:
    """The server closes after each answer without saying so (no `Connection: close`): the next
    request notices the closed socket before sending and opens a new one — no error, no retry
    (max_retries=0)."""
    def answer_then_close(conn: socket.socket, n: int) -> None:
        ok(conn, n)
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    with serving(answer_then_close) as srv, client_for(srv) as client:
        seen = []
        for _ in range(3):
            seen.append(client.request("GET", "/x").data["n"])
            time.sleep(0.05)  # let the FIN arrive
    assert seen == [1, 2, 3]
    assert srv.connections == 3


def test_bytes_past_the_body_spoil_the_connection_not_the_answer() -> None:
    """A body longer than its Content-Length: the message as framed is the answer (curl does
    the same), and the surplus — here a forged second response — is never read as the answer to
    the next request: that one goes out on a new connection."""
    forged = b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"n":"evil"}'

    with serving(lambda conn, n: ok(conn, n, extra=forged if n == 1 else b"")) as srv, \
            client_for(srv) as client:
        first = client.request("GET", "/x")
        second = client.request("GET", "/x")
    assert first.data == {"n": 1}
    assert second.data == {"n": 2}
    assert srv.connections == 2


def test_idle_connections_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "KEEPALIVE_EXPIRY", 0.0)
    with serving(ok) as srv, client_for(srv) as client:
        client.request("GET", "/x")
        time.sleep(0.01)
        client.request("GET", "/x")
    assert srv.connections == 2


def test_a_connection_answering_connection_close_is_not_reused() -> None:
    def answer(conn: socket.socket, n: int) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
        conn.close()

    with serving(answer) as srv, client_for(srv) as client:
        client.request("GET", "/x")
        client.request("GET", "/x")
    assert srv.connections == 2


def test_a_slow_resolver_is_bounded_by_the_attempt_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution cannot be interrupted, so it runs beside the attempt, which gives up at
    its deadline (--timeout) instead of waiting for the resolver."""
    real = socket.getaddrinfo
    release = threading.Event()

    def slow(host: str | bytes, *args: Any, **kw: Any) -> Any:
        if host in ("slow.flora.test", b"slow.flora.test"):
            release.wait(30)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    client = FloraClient(api_key=KEY, base_url="http://slow.flora.test/api/v1", timeout=0.5,
                         max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(errors.APITimeoutError):
            client.request("GET", "/x")
    finally:
        release.set()
    assert time.monotonic() - started < 5


def test_an_unresolvable_name_is_a_connection_error() -> None:
    client = FloraClient(api_key=KEY, base_url="http://nowhere.invalid/api/v1", timeout=5,
                         max_retries=0)
    with pytest.raises(errors.APIConnectionError) as info:
        client.request("GET", "/x")
    assert "nowhere.invalid" in info.value.message


def test_request_targets_are_percent_encoded_as_httpx_would() -> None:
    with raw_server({"/api/v1/runs/a%20b%C3%A9": lambda c, r: respond(c, 200, {})}) as srv, \
            FloraClient(api_key=KEY, base_url=srv.base_url, max_retries=0) as client:
        client.request("GET", "/runs/a bé", params={"q": "ü &"})
    assert srv.requests[0].path == "/api/v1/runs/a%20b%C3%A9?q=%C3%BC+%26"


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


def test_https_is_verified_against_ssl_cert_file(
        certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with serving(ok, _server_context(certificate)) as srv, \
            client_for(srv, "https") as client:
        assert [client.request("GET", "/x").data["n"] for _ in range(3)] == [1, 2, 3]
    assert srv.connections == 1


def test_an_unknown_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    """Without SSL_CERT_FILE the default bundle (certifi's) does not know the self-signed
    certificate: the connection fails, nothing is sent."""
    with serving(ok, _server_context(certificate)) as srv, client_for(srv, "https") as client, \
            pytest.raises(errors.APIConnectionError) as info:
        client.request("GET", "/x")
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    assert srv.requests == 0


# -- proxies ---------------------------------------------------------------------------


def test_a_proxy_in_the_environment_carries_other_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY set, a non-loopback host goes through httpx and its proxy (the request
    arrives in absolute form), while loopback stays direct."""
    target = "http://api.flora.test/api/v1/x"

    def proxy_answer(conn: socket.socket, req: Request) -> None:
        respond(conn, 200, {"via": "proxy"})

    with raw_server({target: proxy_answer}) as proxy, serving(ok) as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy.origin)
        with FloraClient(api_key=KEY, base_url="http://api.flora.test/api/v1",
                         max_retries=0) as remote:
            assert remote.request("GET", "/x").data == {"via": "proxy"}
        with client_for(direct) as local:
            assert local.request("GET", "/x").data == {"n": 1}
    assert proxy.paths() == [target]
    assert proxy.requests[0].headers["authorization"] == f"Bearer {KEY}"

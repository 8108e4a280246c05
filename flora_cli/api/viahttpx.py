"""Exchanges through httpx: for URLs reached through a proxy (HTTP_PROXY and friends) and for
a transport handed in (the unit tests' `httpx.MockTransport`). Direct connections do not come
here (`flora_cli.api.wire` drives h11 on its own sockets), so httpx and httpcore load only
when a proxy or a custom transport is in play.

httpx builds the clients, proxy mounts, SSL contexts and pools; an exchange drives the
transport's httpcore pool directly (no httpx Request/Response models, and never
`Client.send`, which would follow a hostile `Location` itself, turn URL userinfo into Basic
auth and keep cookies). Every socket operation is bounded by the attempt's deadline through a
wrapped network backend. Failures leave as `WireError`/`WireTimeout`, like the direct path's.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

# httpx's package __init__ imports its own command-line tool (httpx._main), which pulls in
# rich, click and pygments: ~30 ms. flora never uses it; marking the module as absent makes
# httpx fall back to its ImportError stub. Only done when httpx is not loaded yet.
if "httpx" not in sys.modules:  # pragma: no branch
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    # certifi (with importlib.resources), idna and anyio are imported by httpx/httpcore at
    # import but used only for https, non-ASCII hosts and async clients: they load on first
    # use (flora_cli.lazymod).
    from flora_cli.lazymod import defer

    defer("certifi", "idna", "anyio")

import httpcore
import httpx

from flora_cli.api.body import BodyError, Decoder
from flora_cli.api.wire import (
    Wire,
    WireError,
    WireTimeout,
    content_length,
    decode_headers,
    request_headers,
)
from flora_cli.api.wire import bounded as _left

#: What httpx's and httpcore's failures are; mapped to WireError/WireTimeout at this boundary.
_FAILURES: tuple[type[Exception], ...] = (
    httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol,
    httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
    httpcore.ProxyError, httpcore.UnsupportedProtocol)


def _bounded(timeout: float | None, exc: type[Exception]) -> float | None:
    try:
        return _left(timeout)
    except WireTimeout:
        raise exc("the attempt's deadline passed") from None


def as_wire_error(exc: Exception) -> WireError:
    """httpx's or httpcore's failure as a WireError (WireTimeout for timeouts), same message,
    the original as its cause."""
    timeout = isinstance(exc, (httpx.TimeoutException, httpcore.TimeoutException))
    mapped = (WireTimeout if timeout else WireError)(str(exc) or type(exc).__name__)
    mapped.__cause__ = exc
    return mapped


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read/write is bounded by the attempt's deadline, so a
    server trickling one byte a second cannot stretch an attempt past it.

    Writes are held until the next read (or until `HOLD` bytes are waiting), so a request's
    head and body leave in one send. A write that fails when the held bytes go out is passed
    over like httpcore passes over a failed request write: the answer is read all the same."""

    HOLD = 64 * 1024

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._held = b""

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._held:
            held, self._held = self._held, b""
            try:  # noqa: SIM105 (contextlib.suppress costs more on this path)
                self._inner.write(held, _bounded(timeout, httpcore.WriteTimeout))
            except httpcore.WriteError:
                pass
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._held += buffer
        if len(self._held) >= self.HOLD:
            held, self._held = self._held, b""
            self._inner.write(held, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._held = b""
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        if self._held:
            held, self._held = self._held, b""
            self._inner.write(held, _bounded(timeout, httpcore.WriteTimeout))
        return DeadlineStream(self._inner.start_tls(
            ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._inner.connect_tcp(
            host, port, _bounded(timeout, httpcore.ConnectTimeout), local_address,
            socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._inner.connect_unix_socket(
            path, _bounded(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadlines(client: httpx.Client) -> None:
    """Wrap the network backend of every connection pool of `client` (direct and proxied).

    httpx builds its pools itself and offers no parameter for this; the attribute has been
    stable through httpcore 1.x, and tests/hostile pins the behaviour (a trickling server is
    cut at the deadline), so a change shows up as a failing test, not a silent hang.
    """
    transports: list[Any] = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]


class _CoreWire(Wire):
    """A response from an httpcore pool."""

    def __init__(self, resp: httpcore.Response) -> None:
        self._resp = resp
        self.status = resp.status
        phrase = resp.extensions.get("reason_phrase", b"")
        self.reason = phrase.decode("ascii", "ignore") if isinstance(phrase, bytes) else ""
        self.headers = decode_headers(resp.headers)
        self.received = 0

    def raw_stream(self) -> tuple[Iterator[bytes], Decoder]:
        return self._counted(), Decoder(self.headers.get("content-encoding"))

    def _counted(self) -> Iterator[bytes]:
        stream: Any = self._resp.stream
        try:
            for chunk in stream:
                self.received += len(chunk)
                yield chunk
        except _FAILURES as exc:
            raise as_wire_error(exc) from exc

    def close(self) -> None:
        self._resp.close()


class _HttpxWire(Wire):
    """A response from an httpx transport (a MockTransport in the unit tests)."""

    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.reason = resp.reason_phrase
        self.headers = {k.lower(): v for k, v in resp.headers.items()}
        self._preread = False

    def raw_stream(self) -> tuple[Iterator[bytes], Decoder]:
        """A response read already (httpx reads a MockTransport's fixed content at once) is
        handed over decoded."""
        if self._resp.is_stream_consumed:
            self._preread = True
            return iter([self._resp.content]), Decoder(None)
        return self._raw(), Decoder(self.headers.get("content-encoding"))

    def _raw(self) -> Iterator[bytes]:
        try:
            yield from self._resp.iter_raw()
        except _FAILURES as exc:
            raise as_wire_error(exc) from exc

    def check_length(self) -> None:
        declared = content_length(self.headers.get("content-length"))
        if declared is None:
            return
        received = self._resp.num_bytes_downloaded
        if self._preread:
            encoding = self.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                return  # decoded already: the raw count is gone
            received = len(self._resp.content)
        if received != declared:
            raise BodyError(f"received {received} bytes, Content-Length said {declared}",
                            retryable=True)

    def close(self) -> None:
        self._resp.close()


def _proxy_configured() -> bool:
    return any(os.environ.get(name) for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY",
                                                 "all_proxy"))


class Routes:
    """httpx clients per (loopback, scheme) — or the one built on a custom transport — and,
    per URL, how to send to it (parsed once: ≤ 256 URLs, polls use one URL per run)."""

    MAX = 256

    def __init__(self, timeout: float, transport: httpx.BaseTransport | None) -> None:
        self.timeout = timeout
        self.transport = transport
        self._clients: dict[tuple[bool, str], httpx.Client] = {}
        self._routes: dict[str, tuple[httpx.BaseTransport, Any, httpcore.URL, bytes]] = {}
        self._lock = threading.Lock()

    def client_for(self, scheme: str, loopback: bool) -> httpx.Client:
        """Loopback hosts are never proxied (their client ignores proxy variables); other hosts
        honour the environment's proxies and CA bundle."""
        key = (False, "mock") if self.transport is not None else (loopback, scheme)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                timeout = httpx.Timeout(self.timeout)
                if self.transport is not None:
                    client = httpx.Client(timeout=timeout, transport=self.transport,
                                          follow_redirects=False, trust_env=False)
                elif loopback:
                    verify: Any = httpx.create_ssl_context(trust_env=True) \
                        if scheme == "https" else False
                    client = httpx.Client(timeout=timeout, follow_redirects=False,
                                          verify=verify, trust_env=False)
                else:
                    # Plain http:// never negotiates TLS, unless through an https:// proxy.
                    client = httpx.Client(timeout=timeout, follow_redirects=False,
                                          verify=scheme == "https" or _proxy_configured(),
                                          trust_env=True)
                _install_deadlines(client)
                self._clients[key] = client
            return client

    def exchange(self, method: str, url: str, scheme: str, loopback: bool,
                 headers: dict[str, str], content: bytes | None) -> Wire:
        try:
            return self._exchange(method, url, scheme, loopback, headers, content)
        except _FAILURES as exc:
            raise as_wire_error(exc) from exc

    def _exchange(self, method: str, url: str, scheme: str, loopback: bool,
                  headers: dict[str, str], content: bytes | None) -> Wire:
        route = self._routes.get(url)
        if route is None:
            http = self.client_for(scheme, loopback)
            parsed = httpx.URL(url)
            transport = http._transport_for_url(parsed)
            pool = transport._pool if isinstance(transport, httpx.HTTPTransport) else None
            route = (transport, pool, httpcore.URL(
                scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port,
                target=parsed.raw_path), parsed.netloc)
            if len(self._routes) >= self.MAX:
                self._routes.clear()
            self._routes[url] = route
        transport, pool, target, host = route
        t = self.timeout
        extensions = {"timeout": {"connect": t, "read": t, "write": t, "pool": t}}
        if pool is None:
            request = httpx.Request(method, url, headers=headers, content=content,
                                    extensions=extensions)
            response = transport.handle_request(request)
            response.request = request
            return _HttpxWire(response)
        return _CoreWire(pool.handle_request(httpcore.Request(
            method, target, headers=request_headers(host, headers, method, content),
            content=content, extensions=extensions)))

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
            self._routes.clear()
        for client in clients.values():
            client.close()

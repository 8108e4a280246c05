"""One HTTP/1.1 exchange on the wire: h11 driven on our own sockets (standard library + h11).

This is the layer under the transport loop for every direct connection (no proxy between):
httpx's own HTTP/1.1 machinery is h11 too, reached through httpcore's pool; driving h11 here
takes ~0.1 s of imports off each start (httpx and httpcore are not loaded) and about 40 % of
the CPU off each request. Proxied connections still go through httpx (`flora_cli.api.viahttpx`).

Every socket operation — resolving the name, connecting, the TLS handshake, each send and each
receive — is bounded by the attempt's deadline (`DEADLINE`, a context variable, so each thread
has its own) and by the per-operation timeout. Failures raise `WireError` (`WireTimeout` for a
deadline), which the loop maps to the project's errors once.
"""

from __future__ import annotations

import contextvars
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import h11

from flora_cli.api.body import BodyError, Decoder

if TYPE_CHECKING:
    import ssl

#: The current attempt's deadline (monotonic seconds), or None.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("flora_deadline",
                                                                        default=None)
#: How long an idle connection is kept for reuse (httpx's default keep-alive expiry).
KEEPALIVE_EXPIRY = 5.0
#: Idle connections kept per origin.
MAX_IDLE = 8
_READ = 65536


class WireError(Exception):
    """An exchange failed on the wire: connect, send, receive or the HTTP framing."""


class WireTimeout(WireError):
    """The attempt's deadline (or an operation's timeout) passed."""


def bounded(timeout: float | None) -> float | None:
    """The time an operation may take: its own timeout, cut to what is left of the deadline."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise WireTimeout("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


class Wire:
    """A response's head, its raw body still to be read: `status`, `reason`, `headers` (names
    in lower case, repeated ones joined with ", ", decoded as httpx decodes them)."""

    status: int
    reason: str
    headers: dict[str, str]
    #: Raw body bytes received so far.
    received = 0

    def raw_stream(self) -> tuple[Iterator[bytes], Decoder]:
        """The body's raw chunks and the decoder for them."""
        raise NotImplementedError

    def check_length(self) -> None:
        """BodyError when the raw bytes received differ from Content-Length."""
        declared = content_length(self.headers.get("content-length"))
        if declared is not None and self.received != declared:
            raise BodyError(f"received {self.received} bytes, Content-Length said {declared}",
                            retryable=True)

    def close(self) -> None:
        raise NotImplementedError


def decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header fields as httpx's `Headers` reads them: ASCII, else UTF-8, else ISO-8859-1 (for
    all fields alike); names in lower case; a repeated name's values joined with ", "."""
    for encoding in ("ascii", "utf-8", "iso-8859-1"):
        try:
            pairs = [(name.lower().decode(encoding), value.decode(encoding))
                     for name, value in raw]
            break
        except UnicodeDecodeError:
            continue
    headers: dict[str, str] = {}
    for name, value in pairs:
        if name in headers:
            headers[name] += ", " + value
        else:
            headers[name] = value
    return headers


def request_headers(host: bytes, headers: dict[str, str], method: str,
                    content: bytes | None) -> list[tuple[bytes, bytes]]:
    """The header fields on the wire, as httpx sends them: Host first, the given ones, then
    Content-Length (0 for a body-less POST/PUT/PATCH, none for a GET)."""
    fields = [(b"Host", host)]
    for name, value in headers.items():
        fields.append((name.encode("ascii"), value.encode("ascii")))
    if content is not None:
        fields.append((b"Content-Length", str(len(content)).encode("ascii")))
    elif method in ("POST", "PUT", "PATCH"):
        fields.append((b"Content-Length", b"0"))
    return fields


def content_length(raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 19:
        return None
    return int(raw)


# -- connections -------------------------------------------------------------------------


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            continue
    return False


def _resolve(host: str, port: int, timeout: float | None) -> list[Any]:
    """getaddrinfo under the deadline: a name is resolved in a helper thread (the resolver
    itself cannot be interrupted), an address literal directly."""
    if _is_ip(host):  # as bytes: a str host loads the idna codec (~1.5 ms) for nothing
        return socket.getaddrinfo(host.encode("ascii"), port, type=socket.SOCK_STREAM)
    found: list[Any] = []
    failed: list[BaseException] = []

    def resolve() -> None:
        try:
            found.extend(socket.getaddrinfo(host.encode("ascii"), port,
                                            type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=resolve, name="flora-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise WireTimeout(f"resolving {host} took longer than the attempt's deadline")
    if failed:
        raise failed[0]
    return found


def _connect(host: str, port: int, timeout: float | None) -> socket.socket:
    error: OSError | None = None
    for family, kind, proto, _name, address in _resolve(host, port, timeout):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(bounded(timeout))
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise
            error = exc
    raise error if error is not None else OSError(f"no address for {host}")


class Connection:
    """One socket and its h11 state machine; reused while both sides keep it alive."""

    __slots__ = ("h11", "idle_since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def fresh(self, now: float) -> bool:
        """Still usable: not idle for too long, nothing (not even EOF) waiting to be read."""
        if now - self.idle_since > KEEPALIVE_EXPIRY:
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        self.sock.close()


class Pool:
    """Connections per (scheme, host, port), reused with keep-alive. One pool may serve several
    threads; each exchange holds its connection alone."""

    def __init__(self, timeout: float, ssl_context: Any = None) -> None:
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._lock = threading.Lock()

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = default_ssl_context()
        context: ssl.SSLContext = self._ssl_context
        return context

    def _checkout(self, key: tuple[str, str, int]) -> Connection | None:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if conn.fresh(now):
                    return conn
                conn.close()
        return None

    def _checkin(self, key: tuple[str, str, int], conn: Connection) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def _open(self, scheme: str, host: str, port: int) -> Connection:
        sock = _connect(host, port, self.timeout)
        if scheme == "https":
            try:
                sock.settimeout(bounded(self.timeout))
                sock = self._tls().wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        return Connection(sock)

    def exchange(self, method: str, scheme: str, host: str, port: int, target: bytes,
                 headers: list[tuple[bytes, bytes]], body: bytes | None) -> H11Wire:
        """Send one request; return the response's head with its body still unread."""
        key = (scheme, host, port)
        conn = self._checkout(key)
        try:
            if conn is None:
                conn = self._open(scheme, host, port)
            return self._send(key, conn, method, target, headers, body)
        except TimeoutError as exc:
            if conn is not None:
                conn.close()
            raise WireTimeout(str(exc) or "timed out") from exc
        except (OSError, h11.ProtocolError) as exc:
            if conn is not None:
                conn.close()
            raise WireError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def _send(self, key: tuple[str, str, int], conn: Connection, method: str, target: bytes,
              headers: list[tuple[bytes, bytes]], body: bytes | None) -> H11Wire:
        machine = conn.h11
        data = machine.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += machine.send(h11.Data(data=body))
        data += machine.send(h11.EndOfMessage())
        try:
            # The head and body leave in one send (one segment; the server wakes once).
            conn.sock.settimeout(bounded(self.timeout))
            conn.sock.sendall(data)
        except TimeoutError:
            raise
        except OSError as sent:
            # A server may answer early (413) and close before reading it all: read its
            # answer all the same, as httpcore does; without one, the send's error stands.
            try:
                return self._head(key, conn)
            except (OSError, h11.ProtocolError, WireError):
                raise sent from None
        return self._head(key, conn)

    def _head(self, key: tuple[str, str, int], conn: Connection) -> H11Wire:
        while True:
            event = self._next(conn)
            if isinstance(event, h11.Response):
                return H11Wire(self, key, conn, event)
            if isinstance(event, h11.ConnectionClosed):
                raise WireError("the server closed the connection without answering")
            # InformationalResponse (1xx): the final answer follows.

    def _next(self, conn: Connection) -> Any:
        machine = conn.h11
        while True:
            event = machine.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.sock.settimeout(bounded(self.timeout))
            machine.receive_data(conn.sock.recv(_READ))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


class H11Wire(Wire):
    """A response on a pooled connection; the connection goes back to the pool when its body
    was read to the end and both sides keep it alive, and is closed otherwise."""

    def __init__(self, pool: Pool, key: tuple[str, str, int], conn: Connection,
                 response: h11.Response) -> None:
        self._pool = pool
        self._key = key
        self._conn: Connection | None = conn
        self.status = response.status_code
        self.reason = response.reason.decode("ascii", "ignore")
        self.headers = decode_headers(list(response.headers))
        self.received = 0
        #: Bytes that arrived past the end of the message.
        self.surplus = 0

    def raw_stream(self) -> tuple[Iterator[bytes], Decoder]:
        return self._chunks(), Decoder(self.headers.get("content-encoding"))

    def _chunks(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                event = self._pool._next(conn)
                if isinstance(event, h11.Data):
                    self.received += len(event.data)
                    yield bytes(event.data)
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
            # Bytes past the end of the message (a body longer than its Content-Length): the
            # message as framed stands, the connection is not reused (curl does the same).
            self.surplus = len(conn.h11.trailing_data[0])
            if (not self.surplus and conn.h11.our_state is h11.DONE
                    and conn.h11.their_state is h11.DONE):
                conn.h11.start_next_cycle()
                self._conn = None
                self._pool._checkin(self._key, conn)
        except TimeoutError as exc:
            raise WireTimeout(str(exc) or "timed out") from exc
        except (OSError, h11.ProtocolError) as exc:
            raise WireError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def default_ssl_context() -> ssl.SSLContext:
    """A verifying context as httpx builds one (trust_env): SSL_CERT_FILE, else SSL_CERT_DIR,
    else certifi's bundle; HTTP/1.1 offered by ALPN."""
    import os
    import ssl

    if os.environ.get("SSL_CERT_FILE"):
        context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context

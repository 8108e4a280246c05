"""Small scripted servers on real sockets, for the hostile-network suite (SPEC §6.1, §7).

Each connection is read up to the end of its request (headers and a Content-Length body) and
handed to the route's handler with the raw socket, so a handler can do what no well-behaved
HTTP library would: trickle a byte a second, lie about Content-Length, send a gzip bomb, an
endless chunked body, escape sequences, a redirect to `Z:/../workspaces`, or close early.

Also the checks every hostile test makes: the key never appears in any output, no raw control
character reaches stderr or stdout, and the exit code is one of the table.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flora_cli.api.errors import EXIT_STATUS_TABLE

SECRET = "sk_test_TOPSECRET0123456789"
EXIT_CODES = {code for code, _ in EXIT_STATUS_TABLE}
#: C0 except \t \n, DEL, C1: none of them may reach a terminal (SPEC §6.1).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOSTILE_TEXT = ("\u001b]8;;http://evil.example/\u001b\\CLICK\u001b]8;;\u001b\\ "
                "\u001b]0;title\u001b\\ \u001b[2J \u009b31m")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[socket.socket, Request], None]


@dataclass
class RawServer:
    routes: dict[str, Handler | list[Handler]]
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v1"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def _handler(self, path: str) -> Handler:
        route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return lambda conn, req: respond(conn, 404, {"error": {"code": "not_found",
                                                                   "message": "no route"}})
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        return route

    def _serve_conn(self, conn: socket.socket) -> None:
        with contextlib.closing(conn):
            conn.settimeout(30)
            buf = b""
            while True:
                try:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                except OSError:
                    return
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                req = Request(method, path, headers, body)
                self.requests.append(req)
                try:
                    self._handler(path)(conn, req)
                except OSError:
                    return
                if getattr(conn, "_flora_closed", False) or conn.fileno() < 0:
                    return

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()


@contextlib.contextmanager
def raw_server(routes: dict[str, Handler | list[Handler]]) -> Iterator[RawServer]:
    srv = RawServer(routes)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    srv._sock = sock
    srv.port = sock.getsockname()[1]
    thread = threading.Thread(target=srv._accept_loop, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv._stop.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


# -- response pieces -----------------------------------------------------------------------


def head(conn: socket.socket, status: int, headers: dict[str, str] | None = None,
         reason: str = "OK") -> None:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in {"request-id": "req_hostile", **(headers or {})}.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))


def respond(conn: socket.socket, status: int, body: Any = b"",
            headers: dict[str, str] | None = None, reason: str = "OK") -> None:
    """A whole response with an honest Content-Length (dicts and lists become JSON)."""
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    else:
        data = body if isinstance(body, bytes) else str(body).encode()
    head(conn, status, {"content-length": str(len(data)), **(headers or {})}, reason)
    conn.sendall(data)


def close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None,
               reason: str = "OK") -> Handler:
    return lambda conn, req: respond(conn, status, body, headers, reason)


def trickle(data: bytes, every: float = 1.0, status: int = 200,
            headers: dict[str, str] | None = None) -> Handler:
    """Headers at once (with a Content-Length), then one byte every `every` seconds."""
    def handler(conn: socket.socket, req: Request) -> None:
        head(conn, status, {"content-length": str(len(data)), **(headers or {})})
        for i in range(len(data)):
            conn.sendall(data[i:i + 1])
            time.sleep(every)
    return handler


def trickle_headers(every: float = 1.0) -> Handler:
    """The status line and headers, one byte every `every` seconds, forever."""
    def handler(conn: socket.socket, req: Request) -> None:
        text = b"HTTP/1.1 200 OK\r\nx-slow: " + b"a" * 100000
        for i in range(len(text)):
            conn.sendall(text[i:i + 1])
            time.sleep(every)
    return handler


def gzip_bytes(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()


def gzip_bomb(decoded_size: int) -> bytes:
    """`decoded_size` zero bytes, gzipped (about a thousandth of that on the wire)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    parts = [z.compress(chunk) for _ in range(decoded_size >> 20)]
    return b"".join(parts) + z.flush()


def endless_chunked(status: int = 200, content_type: str = "application/json") -> Handler:
    """A chunked body that never ends (until the client hangs up)."""
    def handler(conn: socket.socket, req: Request) -> None:
        head(conn, status, {"transfer-encoding": "chunked", "content-type": content_type})
        chunk = b"[" * 65536
        piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        with contextlib.suppress(OSError):
            while True:
                conn.sendall(piece)
    return handler


# -- run documents ---------------------------------------------------------------------------

RUN = "run_hostile1"


def created(srv: RawServer, **extra: Any) -> dict[str, Any]:
    return {"run_id": RUN, "type": "generation", "estimated_seconds": 1, "charged_cost": 0.01,
            "poll_url": f"{srv.base_url}/runs/{RUN}", **extra}


def run_doc(status: str, outputs: list[dict[str, Any]] | None = None,
            **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"run_id": RUN, "status": status, "progress": 100 if
                           status == "completed" else 10, **extra}
    if outputs is not None:
        doc["outputs"] = outputs
    return doc


# -- what every hostile test checks ----------------------------------------------------------


def check_outputs(stdout: str, stderr: str, exit_code: int, *, json_stdout: bool = True) -> None:
    """The key is absent, no raw control character is printed, the exit code is in the
    table, stdout is empty or JSON, and no traceback."""
    assert SECRET not in stdout + stderr
    assert not RAW_CONTROL.search(stderr), RAW_CONTROL.findall(stderr)
    assert not RAW_CONTROL.search(stdout), RAW_CONTROL.findall(stdout)
    assert exit_code in EXIT_CODES, exit_code
    assert "Traceback" not in stderr
    assert '"internal_error"' not in stderr, stderr
    if stdout.strip() and json_stdout:
        json.loads(stdout)

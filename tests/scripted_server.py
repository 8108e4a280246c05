"""A real HTTP server on 127.0.0.1 port 0 that answers from a script and records requests.

For end-to-end tests that need exact control of a response (a status, a header, a body that
breaks the contract, a dropped connection) — things the sandbox does not do on demand.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 201
    body: Any = None  # dict/list → JSON; bytes → as is; None → empty
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    gate: threading.Event | None = None  # wait for this event before answering


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScriptedServer:
    replies: list[Reply]
    requests: list[Recorded] = field(default_factory=list)
    base_url: str = ""
    default: Reply = field(default_factory=lambda: Reply(500, {"error": {
        "code": "unknown_error", "message": "script ran out"}}))

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if self.replies else self.default


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.requests.append(Recorded(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = server.next_reply()
            if reply.gate is not None:
                reply.gate.wait(30)
            if reply.drop:
                self.close_connection = True
                self.connection.close()
                return
            if isinstance(reply.body, bytes):
                content = reply.body
                ctype = "application/octet-stream"
            elif reply.body is None:
                content = b""
                ctype = "application/json"
            else:
                content = json.dumps(reply.body).encode()
                ctype = "application/json"
            headers = {"Content-Type": ctype, "request-id": "req_scripted",
                       **reply.headers}
            try:
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a test of it)
                self.close_connection = True

        do_GET = do_POST = _serve

    return Handler


@contextmanager
def scripted(*replies: Reply, tls: ssl.SSLContext | None = None) -> Iterator[ScriptedServer]:
    state = ScriptedServer(list(replies))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    scheme = "http"
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    state.base_url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}/api/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


RUN_CREATED = {
    "run_id": "run_abc123",
    "type": "generation",
    "estimated_seconds": 12,
    "charged_cost": 0.04,
    "poll_url": "https://app.flora.ai/api/v1/runs/run_abc123",
    "model": {"model_id": "t2i-flux-2-pro"},
    "project_id": "prj_abc123",
    "future_field": {"kept": True},
}

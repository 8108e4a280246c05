"""Run the sandbox with uvicorn: in a background thread (`serve_in_thread`) or in the
foreground for `flora sandbox serve` (`serve_forever`)."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import uvicorn

from flora_cli.sandbox.app import LogFn, SandboxApp, create_app
from flora_cli.sandbox.config import SandboxConfig
from flora_cli.sandbox.defaults import (
    API_PREFIX,
    SANDBOX_API_KEY,
    SANDBOX_PROJECT_ID,
    SANDBOX_WORKSPACE_ID,
)
from flora_cli.sandbox.state import SandboxState

__all__ = [
    "RunningSandbox",
    "SandboxConfig",
    "SandboxStartError",
    "serve_forever",
    "serve_in_thread",
]

STARTUP_TIMEOUT_SECONDS = 10.0


class SandboxStartError(RuntimeError):
    """The server did not start (port in use, bad host, ...)."""


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox that is serving: where it is, and the key and IDs to use with it."""

    host: str
    port: int
    app: SandboxApp
    api_key: str = SANDBOX_API_KEY
    workspace_id: str = SANDBOX_WORKSPACE_ID
    project_id: str = SANDBOX_PROJECT_ID

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API root, e.g. `http://127.0.0.1:53817/api/v1`."""
        return f"{self.origin}{API_PREFIX}"

    @property
    def connect_url(self) -> str:
        """The base URL a client on this machine can connect to: a wildcard bind address
        (0.0.0.0, ::) is not one, so it becomes the loopback address of its family."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}{API_PREFIX}"

    @property
    def state(self) -> SandboxState:
        return self.app.state

    @property
    def config(self) -> SandboxConfig:
        return self.app.config


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket bound to (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol is explicit, and without it each response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: SandboxApp, *, threaded: bool) -> uvicorn.Config:
    from flora_cli.sandbox.guard import guarded_protocol

    return uvicorn.Config(
        app,
        # h11, with a header deadline and a connection cap (sandbox/guard.py); the drop fault
        # relies on h11's request cycle (see app._drop_connection)
        http=guarded_protocol(app.config.header_timeout, app.config.max_connections),
        lifespan="off",
        access_log=False,
        log_config=None,  # leave the host program's logging alone
        log_level="critical" if threaded else "warning",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=5,
    )


class _QuietServer(uvicorn.Server):
    """A uvicorn server that never installs signal handlers (it runs in a thread)."""

    log: LogFn | None = None

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        from flora_cli.sandbox.guard import log_loop_errors_once

        log_loop_errors_once(asyncio.get_running_loop(), self.log)
        await super().startup(sockets=sockets)


@contextmanager
def serve_in_thread(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log: LogFn | None = None,
) -> Iterator[RunningSandbox]:
    """Serve a fresh sandbox on (host, port) in a daemon thread until the block ends.

        with serve_in_thread(SandboxConfig(speed=20)) as running:
            httpx.get(f"{running.base_url}/workspaces", headers=...)

    Port 0 (the default) picks a free port; `running.port` is the one bound.
    """
    app = create_app(config, log=log)
    sock = bind_socket(host, port)
    server = _QuietServer(_uvicorn_config(app, threaded=True))
    server.log = log
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from a failed startup included
            failure.append(exc)

    thread = threading.Thread(target=run, name="flora-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=5)
            sock.close()
            raise SandboxStartError(f"the sandbox did not start on {host}:{port}")
        time.sleep(0.005)
    bound_port = int(sock.getsockname()[1])
    try:
        yield RunningSandbox(host=host, port=bound_port, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_forever(
    config: SandboxConfig,
    *,
    host: str,
    port: int,
    log: LogFn | None,
    on_ready: Callable[[RunningSandbox], None],
) -> int | None:
    """Serve in the foreground until SIGINT/SIGTERM; returns the signal number that stopped it.

    The server shuts down gracefully on the first signal (a second Ctrl-C forces it) and does
    not re-raise the signal, so the caller decides the exit status.
    """
    app = create_app(config, log=log)
    sock = bind_socket(host, port)
    received: list[int] = []

    class _Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            def handle(sig: int, frame: FrameType | None) -> None:
                received.append(sig)
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True

            previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            from flora_cli.sandbox.guard import log_loop_errors_once

            log_loop_errors_once(asyncio.get_running_loop(), log)
            await super().startup(sockets=sockets)
            if self.started:
                on_ready(RunningSandbox(host=host, port=int(sock.getsockname()[1]), app=app))

    server = _Server(_uvicorn_config(app, threaded=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return received[0] if received else None

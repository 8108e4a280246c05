"""The sandbox's ASGI app: Starlette routes under `/api/v1`, wrapped by `SandboxApp`.

`SandboxApp` is the outermost layer (it receives the server's own `send`) and does what every
request shares: the `request-id` header, `--latency`, `--error-rate` (before any side effect),
`--drop-rate` (after a create succeeded), a catch-all that answers 500 in the API's envelope
instead of a traceback, and one log line per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flora_cli.sandbox.config import SandboxConfig
from flora_cli.sandbox.defaults import API_PREFIX
from flora_cli.sandbox.errors import ApiError
from flora_cli.sandbox.guard import TooLarge, counting_receive, declared_length, send_413
from flora_cli.sandbox.media import render
from flora_cli.sandbox.models import ModelList, ProjectList, WorkspaceList
from flora_cli.sandbox.seed import DEFAULT_PROJECT_LIMIT, MODELS, PROJECTS, WORKSPACES
from flora_cli.sandbox.state import SandboxState
from flora_cli.sandbox.validation import (
    check_media_type_query,
    check_projects_query,
    check_run_id,
    encode_cursor,
    parse_json,
    validate_generation,
)

LogFn = Callable[[str], None]
_CONTEXT = "flora.sandbox"
_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_FAULT_CODES = {500: "unknown_error", 502: "unknown_error", 503: "service_unavailable"}
_FAULT_MESSAGES = {
    500: "An unknown error occurred (sandbox: injected by --error-rate).",
    502: "Bad gateway (sandbox: injected by --error-rate).",
    503: "The service is temporarily unavailable (sandbox: injected by --error-rate).",
}


class RequestContext:
    """Per-request facts shared between `SandboxApp` and the route handlers (in the scope)."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.drop = False
        self.run_id: str | None = None
        self.internal_error: str | None = None


def _json(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _error_response(error: ApiError) -> Response:
    return _json(error.status, error.body(), error.headers)


def _dump(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _origin(request: Request) -> str:
    """The server's own origin as the client addressed it (`http://127.0.0.1:PORT`)."""
    host = request.headers.get("host", "")
    if not _HOST_RE.match(host):
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.url.scheme}://{host}"


def _context(request: Request) -> RequestContext:
    context = request.scope.get(_CONTEXT)
    if not isinstance(context, RequestContext):  # the app used without SandboxApp
        context = RequestContext("req_unwrapped")
        request.scope[_CONTEXT] = context
    return context


def _authenticate(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None or not header.strip():
        raise ApiError(
            401, "unauthorized", "Missing API key: send Authorization: Bearer sk_test_…"
        )
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith("sk_test_") or len(key) <= 8:
        raise ApiError(
            401,
            "invalid_api_key",
            "Invalid API key: the sandbox accepts any key that starts with sk_test_.",
        )
    return key


Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(handler: Handler) -> Handler:
    """Turn `ApiError` (and any bug) into an enveloped response inside the handler."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return _error_response(error)
        except TooLarge:  # the body passed the limit while being read
            return _error_response(ApiError(413, "payload_too_large",
                                            "The request body is too large."))
        except Exception as exc:  # a bug: answer in the envelope, never with a traceback
            _context(request).internal_error = f"{type(exc).__name__}: {exc}"
            return _error_response(ApiError(500, "unknown_error"))

    wrapped.__name__ = handler.__name__
    return wrapped


def build_app(state: SandboxState) -> Starlette:
    """The bare Starlette app (no request ids, faults or logs): see `create_app`."""

    async def create(request: Request) -> Response:
        api_key = _authenticate(request)
        raw = await request.body()
        body = parse_json(raw)
        try:
            validated: Any = validate_generation(body)
        except ApiError as error:
            validated = error
        context = _context(request)
        result = state.create_run(
            api_key=api_key,
            idempotency_key=request.headers.get("idempotency-key"),
            path=request.url.path,
            body=body,
            request=validated,
            origin=_origin(request),
            request_id=context.request_id,
        )
        headers = dict(result.headers)
        headers["request-id"] = result.request_id
        if result.run_id is not None:
            context.run_id = result.run_id
            context.drop = state.roll(state.config.drop_rate)
        return _json(result.status, result.body, headers)

    async def get_run(request: Request) -> Response:
        _authenticate(request)
        run_id = request.path_params["run_id"]
        check_run_id(run_id)
        run = state.get_run(run_id, _origin(request))
        return _json(200, _dump(run.model_dump(exclude_none=True)))

    async def list_models(request: Request) -> Response:
        _authenticate(request)
        media_type = check_media_type_query(request.query_params.get("type"))
        models = [m.info for m in MODELS if media_type is None or m.type == media_type]
        document = ModelList(models=models).model_dump(exclude_none=True)
        return _json(200, _dump(document))

    async def list_workspaces(request: Request) -> Response:
        _authenticate(request)
        document = WorkspaceList(workspaces=[w.info for w in WORKSPACES]).model_dump()
        return _json(200, _dump(document))

    async def list_projects(request: Request) -> Response:
        _authenticate(request)
        workspace_id, limit, offset, search = check_projects_query(request.query_params)
        if not any(w.info.workspace_id == workspace_id for w in WORKSPACES):
            raise ApiError(404, "not_found", f"Workspace {workspace_id} not found.")
        state.check_rate(workspace_id)
        matching = [
            p
            for p in PROJECTS
            if p.workspace_id == workspace_id
            and (search is None or search.casefold() in p.name.casefold())
        ]
        size = limit or DEFAULT_PROJECT_LIMIT
        page = matching[offset : offset + size]
        after = offset + len(page)
        document = ProjectList.model_validate(
            {
                "projects": page,
                "meta": {
                    "next_cursor": encode_cursor(after) if after < len(matching) else None,
                    "total_estimate": len(matching),
                },
            }
        ).model_dump()
        return _json(200, _dump(document))

    async def output_file(request: Request) -> Response:
        # Output URLs are public, like a CDN's: no key needed (the key goes only to the API origin).
        run_id = request.path_params["run_id"]
        check_run_id(run_id)
        media_type, prompt, index = state.output_file(run_id, request.path_params["filename"])
        media = render(media_type, prompt, index)
        return Response(media.data, media_type=media.content_type)

    api = Router(
        routes=[
            Route("/runs/generation", _endpoint(create), methods=["POST"]),
            Route("/generate", _endpoint(create), methods=["POST"]),
            Route("/runs/{run_id}", _endpoint(get_run), methods=["GET"]),
            Route("/models", _endpoint(list_models), methods=["GET"]),
            Route("/workspaces", _endpoint(list_workspaces), methods=["GET"]),
            Route("/projects", _endpoint(list_projects), methods=["GET"]),
            Route("/files/{run_id}/{filename}", _endpoint(output_file), methods=["GET"]),
        ],
        redirect_slashes=False,
    )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            error = ApiError(
                405,
                "method_not_allowed",
                f"Method {request.method} is not allowed on {request.url.path}.",
                headers=dict(exc.headers or {}),
            )
        elif exc.status_code == 404:
            error = ApiError(404, "not_found", f"No route {request.url.path}.")
        else:  # pragma: no cover - Starlette raises only 404/405 here
            error = ApiError(exc.status_code, "unknown_error", str(exc.detail))
        return _error_response(error)

    app = Starlette(
        routes=[Mount(API_PREFIX, app=api)],
        exception_handlers={HTTPException: http_error},
    )
    app.router.redirect_slashes = False
    return app


class SandboxApp:
    """The served ASGI app: a `SandboxState`, its Starlette routes, and the shared layer."""

    def __init__(self, config: SandboxConfig | None = None, *, log: LogFn | None = None) -> None:
        self.state = SandboxState(config)
        self.config = self.state.config
        self.log = log
        self.inner: ASGIApp = build_app(self.state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        started = time.perf_counter()
        context = RequestContext(self.state.new_request_id())
        scope[_CONTEXT] = context
        status = 0
        response_started = False
        buffered: list[Message] = []

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"request-id" for name, _ in headers):
                    headers.append((b"request-id", context.request_id.encode()))
                message = {**message, "headers": headers}
            if context.drop:
                buffered.append(message)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        limit = self.config.max_body_bytes
        receive = counting_receive(receive, limit)
        try:
            length = declared_length(scope)
            if length is not None and length > limit:
                # Refused before a byte of the body is read.
                status = 413
                await send_413(send_wrapper, limit, context.request_id)
                return
            if self.config.latency_ms > 0:
                await asyncio.sleep(self.config.latency_ms / 1000)
            if self.state.roll(self.config.error_rate):
                code = self.state.pick_fault_status()
                fault = ApiError(code, _FAULT_CODES[code], _FAULT_MESSAGES[code])
                await _error_response(fault)(scope, receive, send_wrapper)
            else:
                await self.inner(scope, receive, send_wrapper)
            if context.drop:
                status = 0
                await _drop_connection(receive, send, buffered)
        except TooLarge:
            if not response_started:
                context.drop = False
                status = 413
                await send_413(send_wrapper, limit, context.request_id)
        except Exception as exc:  # a bug: answer in the envelope, never with a traceback
            if self.log is not None:
                self.log(f"sandbox: internal error: {type(exc).__name__}: {exc}")
            if not response_started:
                context.drop = False
                status = 500
                await _error_response(ApiError(500, "unknown_error"))(scope, receive, send_wrapper)
        finally:
            if self.log is not None:
                self._log_line(scope, context, status, started)

    def _log_line(self, scope: Scope, context: RequestContext, status: int, started: float) -> None:
        assert self.log is not None
        path = scope.get("path", "")
        query = scope.get("query_string", b"")
        if query:
            path = f"{path}?{query.decode('latin-1')}"
        elapsed = (time.perf_counter() - started) * 1000
        outcome = str(status) if status else "DROPPED (connection closed, run created)"
        extra = f" {context.run_id}" if context.run_id else ""
        if context.internal_error:
            extra += f" internal error: {context.internal_error}"
        self.log(
            f'{scope.get("method", "?")} {path} -> {outcome} {context.request_id}{extra} '
            f"{elapsed:.1f}ms"
        )


async def _drop_connection(receive: Receive, send: Send, buffered: list[Message]) -> None:
    """Close the connection without a response (the run exists).

    Under uvicorn, `send` is a bound method of the request cycle, which holds the transport:
    closing it sends a FIN before any byte of the response; waiting for `http.disconnect`
    then lets uvicorn see the disconnect, so it logs nothing. Elsewhere (another server, a
    test client), fall back to sending only the status line and headers and then returning:
    the response is incomplete and the server closes the connection.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_until_disconnect(receive), timeout=1.0)
        return
    if buffered:  # pragma: no cover - servers other than uvicorn
        await send(buffered[0])


async def _until_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(config: SandboxConfig | None = None, *, log: LogFn | None = None) -> SandboxApp:
    """The sandbox ASGI app for `config`; `log` receives one line per request."""
    return SandboxApp(config, log=log)

"""The HTTP client: THE one transport loop.

Every exchange — the POST that starts a run, each poll, each list call, each download — goes
through `FloraClient._loop`:

    for retries_done in range(max_retries + 1): one attempt, then decide

An attempt owns a whole deadline (`--timeout` bounds connect + headers + body together, not each
socket read), reads the body under a size cap with bounded decompression, and maps failures
on the wire to the project's own errors once. API calls follow no redirects; downloads follow
at most 5, resolved per RFC 3986 against the URL that answered, http/https only, never
https → http, the key only to the API's own origin. A hard `deadline` (`--wait-timeout`)
bounds everything, retry waits included. Loopback hosts are never proxied.

Beneath the loop, one exchange goes out either direct — h11 on our own sockets
(`flora_cli.api.wire`), every connection that no proxy applies to — or through httpx
(`flora_cli.api.viahttpx`) when a proxy variable is set for a non-loopback host, for a non-ASCII
host name, and for a transport handed in (the unit tests' `httpx.MockTransport`). httpx and
httpcore are imported only then.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from flora_cli import __version__
from flora_cli.api import errors, retry
from flora_cli.api.body import MAX_JSON_BYTES, BodyError, decode_json
from flora_cli.api.wire import DEADLINE as _DEADLINE
from flora_cli.api.wire import (
    Pool,
    Wire,
    WireError,
    WireTimeout,
    content_length,
    request_headers,
)
from flora_cli.redact import redact_headers
from flora_cli.settings import is_loopback_host
from flora_cli.textsafe import clean_line

if TYPE_CHECKING:
    import httpx

    from flora_cli.api.viahttpx import Routes

Trace = Callable[[str], None]
#: Sees every response's status and (lower-cased) headers, retried ones included.
Observer = Callable[[int, Mapping[str, str]], None]
T = TypeVar("T")
# `platform` costs a millisecond or two at start; os.uname() says the same (Windows: sys).
_OS = os.uname().sysname if hasattr(os, "uname") else ("Windows" if sys.platform == "win32"
                                                         else sys.platform)
USER_AGENT = (
    f"flora-cli/{__version__} (Python {sys.version_info.major}.{sys.version_info.minor}; {_OS})"
)
_BODY_TRACE_LIMIT = 4000
#: Downloads follow at most this many redirects.
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: A download slower than this (bytes/s) for --timeout seconds fails the attempt (curl's
#: --speed-limit / --speed-time).
MIN_DOWNLOAD_RATE = 1024
#: --max-download-size default: 4 GiB.
DEFAULT_MAX_DOWNLOAD = 4 * 1024 ** 3
#: While polling, backoff between tries grows to at most this many seconds.
MAX_POLL_BACKOFF = 30.0


# -- origins and URLs --------------------------------------------------------------------


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports filled in, for same-origin checks.

    A URL that does not parse (a port of 99999, …) has an origin equal to no other.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        return ("invalid", url, None)
    return scheme, (parts.hostname or "").lower(), port


def has_scheme(url: str) -> str | None:
    """The scheme of an absolute URL (lower case), None for a path."""
    scheme = urlsplit(url).scheme
    return scheme.lower() if scheme and ":" in url else None


# -- deadlines on every socket operation --------------------------------------------------

#: The monotonic time the current attempt must end by (None: no deadline). A context variable,


_TRANSPORT_ERRORS = (WireError,)


@dataclass(frozen=True)
class _Target:
    """A URL as the wire needs it, parsed once: whether it goes direct (h11 on our sockets) or
    through httpx (a proxy applies, or a custom transport), and where."""

    direct: bool
    scheme: str
    host: str
    port: int
    target: bytes  # the request target: path and query, percent-encoded as httpx would
    host_header: bytes
    loopback: bool


#: At most this many URLs' targets are kept per client (polls use one URL per run).
_MAX_TARGETS = 256
_DEFAULT_PORTS = {"http": 80, "https": 443}


# -- what the loop hands back ------------------------------------------------------------


@dataclass
class APIResponse:
    """A successful response, kept as received: `content` is the body's exact bytes
    (after any Content-Encoding was undone)."""

    status: int
    headers: dict[str, str]
    content: bytes
    data: Any
    request_id: str | None
    attempts: int = 1
    replayed: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True)
class ResponseHead:
    """A download's response before its body: what naming the file needs."""

    status: int
    url: str  # the URL that answered (after redirects)
    headers: dict[str, str]
    content_length: int | None  # of the decoded body; None when unknown
    request_id: str | None


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen: the facts a notice is made of."""

    reason: str  # "rate limited (429)", "HTTP 503", "connection failed", "timed out"
    delay: float
    next_attempt: int
    max_attempts: int | None  # None while polling (retried until --poll-patience)
    outage_start: bool  # the first retry of this request

    def describe(self) -> str:
        """`rate limited (429); retrying in 60 s, attempt 2 of 3`."""
        wait = f"{self.delay:.0f} s" if self.delay >= 10 else f"{self.delay:.1f} s"
        if self.max_attempts is None:
            return f"{self.reason}; retrying in {wait} (attempt {self.next_attempt})"
        return (f"{self.reason}; retrying in {wait}, attempt {self.next_attempt} of "
                f"{self.max_attempts}")


@dataclass
class PreparedRequest:
    """What would be sent: used by --dry-run and by the client itself."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "headers": redact_headers(self.headers),
        }
        if self.body is not None:
            doc["body"] = self.body
        return doc


class _Attempt(Exception):
    """One attempt failed; `failure` is the error to report if no retry follows."""

    def __init__(self, failure: errors.FloraError, *, retryable: bool, reason: str,
                 asked: float | None = None, reached: bool = True) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.retryable = retryable
        self.reason = reason
        self.asked = asked  # a server-asked delay (retry-after), if any
        self.reached = reached  # the request may have reached the server


@dataclass
class FloraClient:
    """The API's client: `request` (API calls) and `fetch` (downloads), both through the one
    transport loop. Safe to share between threads; a batch gives each worker its own copy
    (`dataclasses.replace`), with its own connections."""

    api_key: str
    base_url: str
    timeout: float = 60.0
    max_retries: int = 2
    trace: Trace | None = None
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None
    #: Extra headers (--header, FLORA_CUSTOM_HEADERS), sent to the API's own origin only.
    headers: tuple[tuple[str, str], ...] = ()
    #: Called before each retry wait (a notice on stderr, unless --quiet).
    on_retry: Callable[[RetryEvent], None] | None = None
    clock: Callable[[], float] = time.monotonic
    #: Direct connections (h11 on our own sockets), made on first use.
    _pool: Pool | None = field(default=None, init=False, repr=False)
    #: Proxied URLs and custom transports (httpx), made on first use.
    _routes: Routes | None = field(default=None, init=False, repr=False)
    #: URL → where and how to send it: parsed once, not per request.
    _targets: dict[str, _Target] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _base_origin: tuple[str, str, int | None] | None = field(default=None, init=False,
                                                             repr=False)

    def __post_init__(self) -> None:
        problem = key_problem(self.api_key)
        if problem is not None:
            raise errors.UsageError(f"The API key {problem}.", code="invalid_api_key")

    # -- building requests -------------------------------------------------------------

    def url_for(self, path: str) -> str:
        """`{base}{path}`: the base URL's path is kept (…/api/v1 + /runs/generation).

        An absolute http(s) URL (any case) is taken as it is; any other scheme is refused,
        never joined under the base URL as if it were a path.
        """
        scheme = has_scheme(path)
        if scheme in ("http", "https"):
            return path
        if scheme is not None:
            raise errors.InvalidResponseError(
                f"refused to request a {clean_line(scheme)}: URL; only http and https are used")
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def same_origin(self, url: str) -> bool:
        base = self._base_origin
        if base is None:
            base = self._base_origin = origin(self.base_url)
        return origin(url) == base

    def prepare(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> PreparedRequest:
        url = self.url_for(path)
        if params:
            from urllib.parse import urlencode

            url += ("&" if "?" in url else "?") + urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT,
                   "Accept-Encoding": "gzip, deflate"}
        # The key, and the person's extra headers, only ever go to the API's own origin.
        if self.same_origin(url):
            headers.update(self.headers)
            headers["Authorization"] = f"Bearer {self.api_key}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return PreparedRequest(method, url, headers, body)

    # -- the wire ----------------------------------------------------------------------

    def _via_httpx(self) -> Routes:
        with self._lock:  # one FloraClient may serve several threads (a batch)
            if self._routes is None:
                from flora_cli.api.viahttpx import Routes

                self._routes = Routes(self.timeout, self.transport)
            return self._routes

    def http_for(self, url: str) -> httpx.Client:
        """The httpx client a proxied URL goes through: per scheme, and apart for loopback
        hosts, which are never proxied (Go's net/http rule: their client ignores proxy
        variables, so HTTP_PROXY cannot carry a key off the machine)."""
        parts = urlsplit(url)
        scheme = "https" if parts.scheme.lower() == "https" else "http"
        return self._via_httpx().client_for(scheme, is_loopback_host(parts.hostname or ""))

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is not None:
            return target
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            host = parts.hostname or ""
            port = parts.port
        except ValueError as exc:
            raise WireError(f"invalid URL: {exc}") from None
        if scheme not in _DEFAULT_PORTS or not host:
            raise WireError(f"invalid URL: {url[:200]}")
        loopback = is_loopback_host(host)
        # A non-ASCII host (IDNA) and anything a proxy may apply to go through httpx.
        direct = self.transport is None and host.isascii() and (
            loopback or not _proxy_in_environment())
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_QUERY_SAFE)
        shown = f"[{host}]" if ":" in host else host
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            shown += f":{port}"
        target = _Target(direct, scheme, host, port or _DEFAULT_PORTS[scheme],
                         path.encode("ascii"), shown.encode("ascii", "replace"), loopback)
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[url] = target
        return target

    def _exchange(self, method: str, url: str, headers: dict[str, str],
                  content: bytes | None) -> Wire:
        """Send one request and return its response's head, the body still unread.

        Direct connections: h11 on our own sockets (`wire.Pool`). A URL a proxy may apply to,
        a non-ASCII host, or a custom transport (the tests' MockTransport): through httpx
        (`viahttpx.Routes`). Never anything that follows redirects by itself.
        """
        target = self._target(url)
        if not target.direct:
            return self._via_httpx().exchange(method, url, target.scheme, target.loopback,
                                              headers, content)
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = Pool(self.timeout)
                pool = self._pool
        return pool.exchange(method, target.scheme, target.host, target.port, target.target,
                             request_headers(target.host_header, headers, method, content),
                             content)

    def close(self) -> None:
        self._targets.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        routes, self._routes = self._routes, None
        if routes is not None:
            routes.close()

    def __enter__(self) -> FloraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tracing -----------------------------------------------------------------------

    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(clean_line(line))

    def _trace_request(self, req: PreparedRequest, attempt: int, content: bytes | None) -> None:
        if self.trace is None:
            return
        self._trace(f"> {req.method} {req.url}  (attempt {attempt})")
        for name, value in redact_headers(req.headers).items():
            self._trace(f"> {name}: {value}")
        if content:
            self._trace(f"> {content.decode('utf-8', 'replace')[:_BODY_TRACE_LIMIT]}")

    def _trace_head(self, resp: Wire, elapsed: float) -> None:
        if self.trace is None:
            return
        self._trace(f"< {resp.status} {resp.reason}  ({elapsed * 1000:.0f} ms)")
        for name, value in redact_headers(resp.headers).items():
            self._trace(f"< {name}: {value}")

    def _trace_body(self, content: bytes) -> None:
        if self.trace is not None and content:
            self._trace(f"< {content[:_BODY_TRACE_LIMIT].decode('utf-8', 'replace')}")

    # -- THE loop ----------------------------------------------------------------------

    def _loop(
        self,
        attempt_fn: Callable[[int, float | None], T],
        *,
        what: str,
        idem: str | None,
        deadline: float | None,
        patience: float | None,
        first_trace: Callable[[int], None] | None = None,
    ) -> T:
        """Run `attempt_fn(attempt, attempt_deadline)` until it returns, retrying per policy.

        `patience` (polling): retry connection errors, timeouts, 408, 429 and 5xx with backoff
        up to MAX_POLL_BACKOFF until `patience` seconds pass without a good answer. Otherwise
        `max_retries` bounds the retries. `deadline` (monotonic) bounds everything: when it
        passes, WaitTimeoutError.
        """
        budget = self.max_retries if patience is None else sys.maxsize - 1
        maybe_reached = False
        first_failure_at: float | None = None
        for retries_done in range(budget + 1):
            attempt = retries_done + 1
            self._check_deadline(deadline, what)
            start = self.clock()
            attempt_deadline = start + self.timeout
            if deadline is not None:
                attempt_deadline = min(attempt_deadline, deadline)
            if first_trace is not None:
                first_trace(attempt)
            try:
                return attempt_fn(attempt, attempt_deadline)
            except _Attempt as failed:
                failure = failed.failure
                failure.attempts = attempt  # hints say "it was retried" only when it was
                self._check_deadline(deadline, what, cause=failure)
                if (maybe_reached and isinstance(failure, errors.IdempotencyConflictError)
                        and failure.code == "idempotency_duplicate"):
                    raise _lost_response(failure, idem, attempt) from None
                if not failed.retryable:
                    self._trace(f"  not retrying: {failed.reason} is final")
                    raise failure from failure.__cause__
                now = self.clock()
                if first_failure_at is None:
                    first_failure_at = now
                if patience is None:
                    if failed.asked is not None and failed.asked > retry.MAX_SERVER_DELAY:
                        self._trace(f"  not retrying: the server asked for {failed.asked:.0f} s "
                                    "(> 60 s)")
                        failure.retry_after = failed.asked
                        failure.exit_code = errors.EXIT_RATE_LIMITED
                        raise failure from failure.__cause__
                    if retries_done >= self.max_retries:
                        self._trace(f"  {failed.reason}; not retrying: {attempt} attempt"
                                    f"{'s' if attempt != 1 else ''} made (--max-retries "
                                    f"{self.max_retries})")
                        raise failure from failure.__cause__
                    delay = failed.asked if failed.asked is not None else retry.backoff(
                        retries_done)
                else:
                    left = first_failure_at + patience - now
                    if left <= 0:
                        self._trace(f"  {failed.reason}; not retrying: no good answer for "
                                    f"{patience:g} s (--poll-patience)")
                        raise failure from failure.__cause__
                    delay = failed.asked if failed.asked is not None else retry.backoff(
                        retries_done, cap=MAX_POLL_BACKOFF)
                    delay = min(delay, left)
                maybe_reached = maybe_reached or failed.reached
                if deadline is not None and now + delay >= deadline:
                    self._trace(f"  {failed.reason}; the wait deadline comes first")
                    self.sleep(max(0.0, deadline - now))
                    self._check_deadline(deadline, what, cause=failure, force=True)
                self._trace(f"  {failed.reason}; retrying in {delay:.2f} s")
                if self.on_retry is not None and (delay > 2 or patience is not None):
                    self.on_retry(RetryEvent(
                        reason=failed.reason, delay=delay, next_attempt=attempt + 1,
                        max_attempts=None if patience is not None else self.max_retries + 1,
                        outage_start=retries_done == 0))
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_deadline(self, deadline: float | None, what: str, *,
                        cause: errors.FloraError | None = None, force: bool = False) -> None:
        if deadline is None or (self.clock() < deadline and not force):
            return
        err = errors.WaitTimeoutError(f"The wait deadline passed while {what}.")
        if cause is not None:
            err.__cause__ = cause
        raise err

    # -- API exchanges -----------------------------------------------------------------

    def send(self, req: PreparedRequest, *, deadline: float | None = None,
             patience: float | None = None, gate: Callable[[], None] | None = None,
             observe: Observer | None = None) -> APIResponse:
        """Send with retries. Returns a 2xx response or raises a FloraError.

        `gate()` is called before each attempt (a batch's shared pause); `observe(status,
        headers)` after each response's head (a batch's rate limiter sees every 429).
        """
        try:
            content = (json.dumps(req.body, ensure_ascii=False, allow_nan=False).encode("utf-8")
                       if req.body is not None else None)
        except (ValueError, UnicodeEncodeError) as exc:
            raise errors.UsageError(f"The request body is not valid JSON text: {exc}") from None
        idem = req.headers.get("Idempotency-Key")

        def attempt(number: int, attempt_deadline: float | None) -> APIResponse:
            if gate is not None:
                gate()
            self._trace_request(req, number, content)
            return self._api_attempt(req, content, idem, number, attempt_deadline, patience,
                                     observe)

        return self._loop(attempt, what=f"{req.method} {req.url}", idem=idem,
                          deadline=deadline, patience=patience)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        params: dict[str, str] | None = None,
        deadline: float | None = None,
        patience: float | None = None,
        gate: Callable[[], None] | None = None,
        observe: Observer | None = None,
    ) -> APIResponse:
        """Send one API request through the transport loop; `params` become the query string.

        `deadline`: a monotonic time that bounds every attempt and retry wait (WaitTimeoutError
        when it passes). `patience`: retry like a poll (see `_loop`). `gate`/`observe`: see
        `send`.
        """
        return self.send(self.prepare(method, path, body=body, idempotency_key=idempotency_key,
                                      params=params), deadline=deadline, patience=patience,
                         gate=gate, observe=observe)

    def _api_attempt(self, req: PreparedRequest, content: bytes | None, idem: str | None,
                     number: int, attempt_deadline: float | None,
                     patience: float | None,
                     observe: Observer | None = None,
                     ) -> APIResponse:
        token = _DEADLINE.set(attempt_deadline)
        try:
            started = self.clock()
            resp = self._exchange(req.method, req.url, req.headers, content)
            try:
                self._trace_head(resp, self.clock() - started)
                status, headers, request_id = _head(resp, idem)
                if observe is not None:
                    observe(status, headers)
                try:
                    body = _read_all(resp, MAX_JSON_BYTES, attempt_deadline, self.clock)
                except BodyError as exc:
                    if 200 <= status < 300 or not exc.too_large:
                        raise _Attempt(errors.InvalidResponseError(
                            f"The API's answer ({status}) could not be read: {exc.reason}.",
                            http_status=status, request_id=request_id,
                            idempotency_key=idem), retryable=False,
                            reason="an unreadable body") from None
                    body = b""
            finally:
                resp.close()
        except _TRANSPORT_ERRORS as exc:
            raise self._transport_failure(exc, req.url, idem) from exc
        finally:
            _DEADLINE.reset(token)
        self._trace_body(body)
        if 200 <= status < 300:
            try:
                data = decode_json(body)
            except ValueError as exc:
                ctype = headers.get("content-type", "")
                raise _Attempt(errors.InvalidResponseError(
                    f"The API answered {status} with a body that is not plain JSON "
                    f"(content-type {clean_line(ctype[:60]) or 'missing'}): {exc}.",
                    http_status=status, request_id=request_id, idempotency_key=idem),
                    retryable=False, reason="a body that is not JSON") from None
            return APIResponse(
                status=status, headers=headers, content=body, data=data,
                request_id=request_id, attempts=number,
                replayed=headers.get("idempotent-replayed", "").lower() == "true",
                idempotency_key=idem)
        try:
            error_body: Any = decode_json(body) if body else None
        except ValueError:
            error_body = None
        if patience is not None:
            retryable = status in (408, 429) or 500 <= status <= 599
        else:
            retryable = retry.should_retry(status, headers)
        asked = retry.parse_retry_after(headers) if retryable else None
        failure = errors.error_for_status(
            status, error_body, request_id=request_id, idempotency_key=idem, attempts=number,
            retry_after=asked,
            max_server_delay=retry.MAX_SERVER_DELAY if patience is None else float("inf"))
        raise _Attempt(failure, retryable=retryable, reason=_status_reason(status),
                       asked=asked, reached=status >= 500)

    def _transport_failure(self, exc: Exception, url: str, idem: str | None) -> _Attempt:
        """A failure on the wire (httpx's and httpcore's arrive mapped to the same two kinds)
        becomes the project's error, once, here; the caller raises the result `from exc`."""
        shown = clean_line(_without_query(url))
        cause = exc
        if isinstance(cause, WireTimeout):
            failure: errors.FloraError = errors.APITimeoutError(
                f"The request timed out after {self.timeout:g} s (the whole attempt): {shown}",
                idempotency_key=idem)
            failure.__cause__ = cause
            return _Attempt(failure, retryable=True, reason="timed out")
        detail = clean_line(str(cause) or type(cause).__name__)[:200]
        failure = errors.APIConnectionError(
            f"Could not reach {shown}: {detail}", idempotency_key=idem)
        failure.__cause__ = cause
        return _Attempt(failure, retryable=True, reason="connection failed")

    # -- downloads ---------------------------------------------------------------------

    def fetch(
        self,
        url: str,
        receive: Callable[[ResponseHead, Iterator[bytes]], T],
        *,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD,
        deadline: float | None = None,
    ) -> T:
        """A streamed download through the transport loop: `receive(head, chunks)` is called
        with the final response's head and an iterator of its (decoded) body; what it returns
        is returned. The iterator raises when the body breaks a rule (shorter or longer than its
        Content-Length, a truncated compressed stream, over `max_bytes`, crawling); that
        attempt fails and is retried per policy. `receive` must clean up after itself.

        The connection and headers must arrive within --timeout; the body may take longer, but
        not crawl (under 1 KiB/s for --timeout seconds).
        """
        if has_scheme(url) not in ("http", "https"):
            raise errors.InvalidResponseError(f"not an http(s) URL: {clean_line(url[:200])}")

        def attempt(number: int, attempt_deadline: float | None) -> T:
            return self._download_attempt(url, receive, number, attempt_deadline, deadline,
                                          max_bytes)

        return self._loop(attempt, what=f"downloading {clean_line(_without_query(url))}",
                          idem=None, deadline=deadline, patience=None)

    def _download_attempt(self, url: str, receive: Callable[[ResponseHead, Iterator[bytes]], T],
                          number: int, attempt_deadline: float | None,
                          deadline: float | None, max_bytes: int) -> T:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            req = self.prepare("GET", current)
            req.headers["Accept"] = "*/*"
            req.headers["Accept-Encoding"] = "identity"
            self._trace_request(req, number, None)
            token = _DEADLINE.set(attempt_deadline)
            try:
                try:
                    started = self.clock()
                    resp = self._exchange("GET", current, req.headers, None)
                    try:
                        self._trace_head(resp, self.clock() - started)
                        status, headers, request_id = _head(resp, None)
                        if status in _REDIRECTS and "location" in headers:
                            current = _redirect_target(current, headers["location"])
                            continue
                        if not 200 <= status < 300:
                            raise _download_status(resp, status, headers, request_id)
                        # The body may take longer than --timeout; only the wait deadline
                        # bounds it, and the crawl check below.
                        _DEADLINE.set(deadline)
                        head = ResponseHead(status=status, url=current, headers=headers,
                                            content_length=_declared_length(headers),
                                            request_id=request_id)
                        if head.content_length is not None and head.content_length > max_bytes:
                            raise _Attempt(errors.InvalidResponseError(
                                f"the file is {head.content_length} bytes, over "
                                f"--max-download-size {max_bytes}"), retryable=False,
                                reason="a file over --max-download-size")
                        chunks = _download_chunks(resp, headers, max_bytes, self.timeout,
                                                  self.clock)
                        try:
                            return receive(head, chunks)
                        except BodyError as exc:
                            failure: errors.FloraError = (
                                errors.InvalidResponseError(exc.reason) if not exc.retryable
                                else errors.APIConnectionError(exc.reason))
                            raise _Attempt(failure, retryable=exc.retryable,
                                           reason=exc.reason) from None
                    finally:
                        resp.close()
                except _TRANSPORT_ERRORS as exc:
                    raise self._transport_failure(exc, current, None) from exc
            finally:
                _DEADLINE.reset(token)
        raise _Attempt(errors.InvalidResponseError(f"more than {MAX_REDIRECTS} redirects"),
                       retryable=False, reason="too many redirects")


# -- attempt helpers ---------------------------------------------------------------------


def _head(resp: Wire, idem: str | None) -> tuple[int, dict[str, str], str | None]:
    headers = resp.headers
    request_id = headers.get("request-id")
    status = resp.status
    if not 100 <= status <= 599:
        raise _Attempt(errors.InvalidResponseError(
            f"The API answered with HTTP status {status}, outside 100-599.",
            http_status=status, request_id=request_id, idempotency_key=idem),
            retryable=False, reason=f"status {status}")
    return status, headers, request_id


def _status_reason(status: int) -> str:
    if status == 429:
        return "rate limited (429)"
    if status == 408:
        return "request timeout (408)"
    return f"HTTP {status}"


def _read_all(resp: Wire, cap: int, deadline: float | None,
              clock: Callable[[], float]) -> bytes:
    """The whole decoded body, at most `cap` bytes (BodyError beyond, or when undecodable)."""
    chunks, decoder = resp.raw_stream()
    parts: list[bytes] = []
    size = 0
    for raw in chunks:
        if deadline is not None and clock() > deadline:
            raise WireTimeout("the attempt's deadline passed")
        for piece in decoder.feed(raw):
            size += len(piece)
            if size > cap:
                raise BodyError(f"the body is larger than {cap // (1024 * 1024)} MiB",
                                too_large=True)
            parts.append(piece)
    decoder.finish()
    resp.check_length()
    return b"".join(parts)


def _download_chunks(resp: Wire, headers: dict[str, str], max_bytes: int,
                     speed_time: float, clock: Callable[[], float]) -> Iterator[bytes]:
    chunks, decoder = resp.raw_stream()
    size = 0
    window_start = clock()
    window_bytes = 0
    for raw in chunks:
        window_bytes += len(raw)
        now = clock()
        if now - window_start >= speed_time:
            if window_bytes / (now - window_start) < MIN_DOWNLOAD_RATE:
                raise BodyError(f"the download crawled under {MIN_DOWNLOAD_RATE} bytes/s for "
                                f"{speed_time:g} s", retryable=True)
            window_start, window_bytes = now, 0
        for piece in decoder.feed(raw):
            size += len(piece)
            if size > max_bytes:
                raise BodyError(f"the file grew past --max-download-size {max_bytes}",
                                too_large=True)
            yield piece
    decoder.finish()
    resp.check_length()


def _declared_length(headers: dict[str, str]) -> int | None:
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    return content_length(headers.get("content-length"))


def _redirect_target(current: str, location: str) -> str:
    """`Location` resolved per RFC 3986 against the URL that answered; http/https only and
    never from https down to http."""
    import httpx  # only when a download is redirected: RFC 3986 resolution as httpx does it

    try:
        target = str(httpx.URL(current).join(location.strip()))
    except (httpx.InvalidURL, ValueError):
        raise _Attempt(errors.InvalidResponseError(
            f"a redirect to an invalid URL: {clean_line(location[:200])}"),
            retryable=False, reason="a bad redirect") from None
    scheme = has_scheme(target)
    if scheme not in ("http", "https"):
        raise _Attempt(errors.InvalidResponseError(
            f"a redirect to a {clean_line(str(scheme))}: URL was refused (only http and https)"),
            retryable=False, reason="a bad redirect")
    if has_scheme(current) == "https" and scheme == "http":
        raise _Attempt(errors.InvalidResponseError(
            "a redirect from https to plain http was refused"), retryable=False,
            reason="a bad redirect")
    if urlsplit(target).username is not None:
        raise _Attempt(errors.InvalidResponseError(
            "a redirect to a URL carrying credentials was refused"), retryable=False,
            reason="a bad redirect")
    return target


def _download_status(resp: Wire, status: int, headers: dict[str, str],
                     request_id: str | None) -> _Attempt:
    phrase = clean_line(resp.reason or "")[:80]
    retryable = retry.should_retry(status, headers)
    asked = retry.parse_retry_after(headers) if retryable else None
    failure = errors.error_for_status(status, None, request_id=request_id, retry_after=asked)
    failure.message = f"HTTP {status} {phrase}".rstrip()
    failure.error = {"code": failure.code, "message": failure.message}
    return _Attempt(failure, retryable=retryable, reason=failure.message, asked=asked)


def _without_query(url: str) -> str:
    """A URL for messages: without its query (signed download URLs carry tokens there)."""
    return url.split("?", 1)[0].split("#", 1)[0]


def key_problem(key: str) -> str | None:
    """Why a key cannot be sent in a header (None when it can)."""
    if not key:
        return None
    if not key.isascii():
        return "holds non-ASCII characters"
    if any(c.isspace() for c in key):
        return "holds whitespace"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        return "holds control characters"
    return None


#: What httpx leaves unquoted in a path and a query (RFC 3986 pchar, and "%" of escapes).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _proxy_in_environment() -> bool:
    """Any proxy variable set: httpx then decides (with NO_PROXY) where it applies."""
    environ = os.environ
    return any(environ.get(name) or environ.get(name.lower()) for name in _PROXY_VARIABLES)


def _lost_response(
    failure: errors.FloraError, idem: str | None, attempt: int
) -> errors.FloraError:
    return errors.LostResponseError(
        f"An earlier attempt of this request reached the server and most likely started the "
        f"run, but its response was lost; attempt {attempt} was refused as a duplicate of "
        f"idempotency key {idem}.",
        error=failure.error,
        http_status=failure.http_status,
        request_id=failure.request_id,
        idempotency_key=idem,
        attempts=attempt,
    )

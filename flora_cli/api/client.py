"""The thin HTTP client: the one module that imports httpx.

One `request()` loop sends, retries per `retry.py`, wraps httpx's exceptions into the project's
own once (`raise … from err`), and maps error statuses through `errors.error_for_status`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# httpx's package __init__ imports its own command-line tool (httpx._main), which pulls in
# rich, click and pygments: ~30 ms at every start. flora never uses it; marking the module as
# absent makes httpx fall back to its ImportError stub. Only done when httpx is not loaded yet.
if "httpx" not in sys.modules:  # pragma: no branch
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx

from flora_cli import __version__
from flora_cli.api import errors, retry
from flora_cli.redact import redact_headers

Trace = Callable[[str], None]
#: Sees every response's status and (lower-cased) headers, retried ones included.
Observer = Callable[[int, Mapping[str, str]], None]
# `platform` costs a millisecond or two at start; os.uname() says the same (Windows: sys).
_OS = os.uname().sysname if hasattr(os, "uname") else ("Windows" if sys.platform == "win32"
                                                         else sys.platform)
USER_AGENT = (
    f"flora-cli/{__version__} (Python {sys.version_info.major}.{sys.version_info.minor}; {_OS})"
)
_BODY_TRACE_LIMIT = 4000


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports filled in, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


@dataclass
class APIResponse:
    """A successful response, kept as received: `content` is the body's exact bytes."""

    status: int
    headers: dict[str, str]
    content: bytes
    data: Any
    request_id: str | None
    attempts: int = 1
    replayed: bool = False
    idempotency_key: str | None = None


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


@dataclass
class FloraClient:
    api_key: str
    base_url: str
    timeout: float = 60.0
    max_retries: int = 2
    trace: Trace | None = None
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None
    #: Extra headers (--header, FLORA_CUSTOM_HEADERS), sent to the API's own origin only.
    headers: tuple[tuple[str, str], ...] = ()
    _clients: dict[str, httpx.Client] = field(default_factory=dict, init=False, repr=False)

    # -- building requests -------------------------------------------------------------

    def url_for(self, path: str) -> str:
        """`{base}{path}`: the base URL's path is kept (…/api/v1 + /runs/generation)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def same_origin(self, url: str) -> bool:
        return origin(url) == origin(self.base_url)

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
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        # The key, and the person's extra headers, only ever go to the API's own origin.
        if self.same_origin(url):
            headers.update(self.headers)
            headers["Authorization"] = f"Bearer {self.api_key}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return PreparedRequest(method, url, headers, body)

    # -- sending ------------------------------------------------------------------------

    def http_for(self, url: str) -> httpx.Client:
        """The httpx client for a URL: one for http:// and one for https:// URLs.

        A verifying SSL context loads the CA bundle (~30 ms), so it is built only when an
        https:// URL is first requested: a command that talks to the sandbox or another loopback
        http:// API never pays for it. https:// always gets httpx's verifying default (certifi,
        or SSL_CERT_FILE / SSL_CERT_DIR). Proxies come from the environment (trust_env).
        """
        scheme = "http" if self.transport is None and url.startswith("http://") else "https"
        client = self._clients.get(scheme)
        if client is None:
            # Plain http:// never negotiates TLS, unless through an https:// proxy: then verify.
            verify = scheme == "https" or _proxy_configured()
            client = httpx.Client(
                timeout=httpx.Timeout(self.timeout),
                transport=self.transport,
                follow_redirects=False,
                verify=verify,
                trust_env=True,
            )
            self._clients[scheme] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> FloraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(line)

    def _trace_request(self, req: PreparedRequest, attempt: int, content: bytes | None) -> None:
        if self.trace is None:
            return
        self._trace(f"> {req.method} {req.url}  (attempt {attempt})")
        for name, value in redact_headers(req.headers).items():
            self._trace(f"> {name}: {value}")
        if content:
            self._trace(f"> {content.decode('utf-8', 'replace')[:_BODY_TRACE_LIMIT]}")

    def _trace_response(self, resp: httpx.Response, elapsed: float) -> None:
        if self.trace is None:
            return
        self._trace(f"< {resp.status_code} {resp.reason_phrase}  ({elapsed * 1000:.0f} ms)")
        for name, value in redact_headers(dict(resp.headers)).items():
            self._trace(f"< {name}: {value}")
        if resp.content:
            self._trace(f"< {resp.content.decode('utf-8', 'replace')[:_BODY_TRACE_LIMIT]}")

    def send(self, req: PreparedRequest, *, gate: Callable[[], None] | None = None,
             observe: Observer | None = None) -> APIResponse:
        """Send with retries. Returns a 2xx response or raises a FloraError.

        `gate` runs before every attempt (a batch's shared pause blocks there); `observe`
        sees every response's status and headers (a batch's limiter learns of each 429).
        """
        content = (
            json.dumps(req.body, ensure_ascii=False).encode("utf-8")
            if req.body is not None
            else None
        )
        idem = req.headers.get("Idempotency-Key")
        # Set when an earlier attempt may have reached the server (no answer, or a 5xx).
        maybe_reached = False
        attempt = 0
        while True:
            attempt += 1
            retries_done = attempt - 1
            can_retry = retries_done < self.max_retries
            if gate is not None:
                gate()
            self._trace_request(req, attempt, content)
            started = time.monotonic()
            try:
                resp = self.http_for(req.url).request(req.method, req.url, headers=req.headers,
                                                      content=content)
            except httpx.TimeoutException as exc:
                failure: errors.FloraError = errors.APITimeoutError(
                    f"The request timed out after {self.timeout:g} s: {req.method} {req.url}",
                    idempotency_key=idem,
                    attempts=attempt,
                )
                failure.__cause__ = exc
            except httpx.TransportError as exc:
                failure = errors.APIConnectionError(
                    f"Could not reach the API at {req.url}: {exc or type(exc).__name__}",
                    idempotency_key=idem,
                    attempts=attempt,
                )
                failure.__cause__ = exc
            else:
                elapsed = time.monotonic() - started
                self._trace_response(resp, elapsed)
                headers = {k.lower(): v for k, v in resp.headers.items()}
                if observe is not None:
                    observe(resp.status_code, headers)
                request_id = headers.get("request-id")
                if 200 <= resp.status_code < 300:
                    return APIResponse(
                        status=resp.status_code,
                        headers=headers,
                        content=resp.content,
                        data=_decode_json(resp, request_id, idem),
                        request_id=request_id,
                        attempts=attempt,
                        replayed=headers.get("idempotent-replayed", "").lower() == "true",
                        idempotency_key=idem,
                    )
                body = _try_json(resp.content)
                asked_delay = retry.parse_retry_after(headers)
                failure = errors.error_for_status(
                    resp.status_code, body, request_id=request_id, idempotency_key=idem,
                    attempts=attempt, retry_after=asked_delay,
                    max_server_delay=retry.MAX_SERVER_DELAY,
                )
                if retry.should_retry(resp.status_code, headers):
                    delay, asked = retry.retry_delay(retries_done, headers)
                    if asked and delay > retry.MAX_SERVER_DELAY:
                        self._trace(f"  not retrying: the server asked for {delay:.0f} s (> 60 s)")
                        raise failure
                    if can_retry:
                        maybe_reached = maybe_reached or resp.status_code >= 500
                        self._trace(f"  retrying in {delay:.2f} s ({resp.status_code})")
                        self.sleep(delay)
                        continue
                    self._trace(f"  not retrying: {attempt} attempts made (--max-retries "
                                f"{self.max_retries})")
                    raise failure
                if (
                    maybe_reached
                    and isinstance(failure, errors.IdempotencyConflictError)
                    and failure.code == "idempotency_duplicate"
                ):
                    raise _lost_response(failure, idem, attempt) from None
                self._trace(f"  not retrying: {resp.status_code} is final")
                raise failure
            # No response: connection error or timeout.
            if can_retry:
                maybe_reached = True
                delay = retry.backoff(retries_done)
                self._trace(f"  {failure.message}; retrying in {delay:.2f} s")
                self.sleep(delay)
                continue
            self._trace(f"  {failure.message}; not retrying: {attempt} attempts made")
            raise failure

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        params: dict[str, str] | None = None,
        gate: Callable[[], None] | None = None,
        observe: Observer | None = None,
    ) -> APIResponse:
        """Send one API request through the retry loop; `params` become the query string."""
        return self.send(self.prepare(method, path, body=body, idempotency_key=idempotency_key,
                                      params=params), gate=gate, observe=observe)

    @contextmanager
    def stream(self, url: str) -> Iterator[httpx.Response]:
        """A streamed GET (downloads): the key is sent only to the API's own origin."""
        req = self.prepare("GET", url)
        req.headers["Accept"] = "*/*"
        self._trace_request(req, 1, None)
        try:
            with self.http_for(req.url).stream("GET", req.url, headers=req.headers) as resp:
                yield resp
        except httpx.TimeoutException as exc:
            raise errors.APITimeoutError(f"The download timed out: {req.url}") from exc
        except httpx.TransportError as exc:
            raise errors.APIConnectionError(f"The download failed: {req.url}: {exc}") from exc


def _proxy_configured() -> bool:
    return any(os.environ.get(name) for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY",
                                                 "all_proxy"))


def _try_json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _decode_json(resp: httpx.Response, request_id: str | None, idem: str | None) -> Any:
    try:
        return json.loads(resp.content)
    except ValueError:
        ctype = resp.headers.get("content-type", "")
        raise errors.InvalidResponseError(
            f"The API answered {resp.status_code} with a body that is not JSON "
            f"(content-type {ctype or 'missing'}).",
            http_status=resp.status_code,
            request_id=request_id,
            idempotency_key=idem,
        ) from None


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

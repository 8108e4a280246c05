"""Polling a run until it completes or fails.

Each poll is one `FloraClient.request()` in polling mode: the transport loop rides through
outages (connection errors, timeouts, 408, 429, 5xx) with backoff of at most 30 s until
`patience` seconds pass without one good answer (then `PollFailedError`, exit 9). A hard
`deadline` (--wait-timeout) bounds polls, retry waits and sleeps (then `WaitTimeoutError`,
exit 124). The loop trusts `status`, never `progress`, and takes its `sleep` and `clock` as
arguments so tests run instantly.

Every error raised here carries the run id (the CLI layer words the hint that resumes the
wait); Ctrl-C and SIGTERM become `InterruptedError_` / `TerminatedError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from flora_cli.api.errors import (
    APIConnectionError,
    FloraError,
    InterruptedError_,
    InvalidResponseError,
    PollFailedError,
    RateLimitError,
    ServerError,
    Terminated,
    TerminatedError,
    WaitTimeoutError,
)
from flora_cli.vocab import RUN_STATUSES, TERMINAL_STATUSES

if TYPE_CHECKING:
    from flora_cli.api.client import FloraClient

DEFAULT_POLL_INTERVAL = 2.0
#: --poll-patience default: polling gives up after this long without one good answer.
DEFAULT_POLL_PATIENCE = 300.0
#: The last poll, made when --wait-timeout is reached, may take this long (no retries), so a
#: run that ends just in time is not reported as timed out.
FINAL_POLL_GRACE = 2.0

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RunState:
    """One answer of GET /runs/{run_id}: the document as decoded and the body as received."""

    doc: dict[str, Any]
    content: bytes
    request_id: str | None = None

    @property
    def run_id(self) -> str:
        return str(self.doc.get("run_id", ""))

    @property
    def status(self) -> str:
        return str(self.doc.get("status"))

    @property
    def progress(self) -> float | None:
        value = self.doc.get("progress")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            return float(min(100.0, max(0.0, value)))
        return None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


def is_http_url(value: Any) -> bool:
    """An absolute http(s) URL with a host and no whitespace (text outputs are not URLs)."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port of 99999 is not a URL
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def run_path(run_id: str) -> str:
    """`/runs/{run_id}` with the id quoted as one path segment."""
    return "/runs/" + quote(run_id, safe="")


def poll_target(client: FloraClient, run_id: str, poll_url: Any = None) -> str:
    """The run's `poll_url` when it has the base URL's origin, else `{base}/runs/{run_id}`.

    A `poll_url` on another origin is never requested at all: the key stays with the API.
    """
    if is_http_url(poll_url) and client.same_origin(poll_url):
        return str(poll_url)
    return client.url_for(run_path(run_id))


def fetch_run(client: FloraClient, run_id: str, target: str | None = None, *,
              deadline: float | None = None, patience: float | None = None) -> RunState:
    """GET the run once (through the client's transport loop) and check the answer's shape."""
    response = client.request("GET", target or run_path(run_id), deadline=deadline,
                              patience=patience)
    data = response.data
    problem: str | None = None
    if not isinstance(data, dict):
        problem = "is not a JSON object"
    elif not isinstance(data.get("status"), str) or data["status"] not in RUN_STATUSES:
        from flora_cli.textsafe import clean_line

        problem = (f"has status {clean_line(repr(data.get('status'))[:80])}, not one of "
                   f"{', '.join(sorted(RUN_STATUSES))}")
    elif isinstance(data.get("run_id"), str) and data["run_id"] != run_id:
        from flora_cli.textsafe import clean_line

        problem = f"is about run {clean_line(repr(data['run_id'])[:80])}, not {run_id!r}"
    if problem is not None or not isinstance(data, dict):
        raise InvalidResponseError(
            f"The API's answer for run {run_id} {problem}; the response breaks the API "
            "contract.",
            http_status=response.status,
            request_id=response.request_id,
            run_id=run_id,
        )
    return RunState(doc=data, content=response.content, request_id=response.request_id)


def interrupted(run_id: str, doing: str = "waiting for",
                signal: BaseException | None = None) -> InterruptedError_:
    """Ctrl-C (exit 130) or SIGTERM (exit 143) while following a run: the run goes on."""
    cls = TerminatedError if isinstance(signal, Terminated) else InterruptedError_
    word = "Terminated" if cls is TerminatedError else "Interrupted"
    return cls(f"{word} while {doing} run {run_id}; the run itself goes on in FLORA.",
               run_id=run_id)


def wait_timed_out(run_id: str, timeout: float | None,
                   status: str | None = None) -> WaitTimeoutError:
    still = f"still {status}" if status else "not finished"
    after = f" after {timeout:g} s of waiting" if timeout is not None else ""
    return WaitTimeoutError(f"Run {run_id} is {still}{after}; it goes on in FLORA.",
                            run_id=run_id)


def wait_for_run(
    client: FloraClient,
    run_id: str,
    *,
    poll_url: Any = None,
    interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    on_update: Callable[[RunState], None] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    deadline: float | None = None,
    patience: float = DEFAULT_POLL_PATIENCE,
) -> RunState:
    """Poll until the run is `completed` or `failed` and return its last state.

    The first poll is immediate; then one every `interval` seconds. `deadline` (monotonic;
    else `timeout` seconds from now, None for no limit) is hard: polls, retry waits and sleeps
    all end at it, and `WaitTimeoutError` says so (the last poll is made at the deadline, so a
    run that ends just in time is not reported as timed out). Outages are ridden through for
    `patience` seconds (then `PollFailedError`). Ctrl-C / SIGTERM raise `InterruptedError_` /
    `TerminatedError`. None of them stops the run: each carries the run id.
    """
    target = poll_target(client, run_id, poll_url)
    if deadline is None and timeout is not None:
        deadline = clock() + timeout
    status: str | None = None
    try:
        while True:
            # The deadline in the client's clock (tests give the loop a fake one).
            poll_deadline = None
            if deadline is not None:
                left = deadline - clock()
                if left <= 0:
                    left = min(FINAL_POLL_GRACE, client.timeout)
                poll_deadline = client.clock() + left
            try:
                state = fetch_run(client, run_id, target, deadline=poll_deadline,
                                  patience=patience)
            except WaitTimeoutError:
                raise wait_timed_out(run_id, timeout, status) from None
            except (APIConnectionError, ServerError, RateLimitError) as exc:
                raise PollFailedError(
                    f"Polling run {run_id} failed: {exc.message} (no good answer for "
                    f"{patience:g} s); the run goes on in FLORA.",
                    http_status=exc.http_status, request_id=exc.request_id, run_id=run_id,
                    attempts=exc.attempts) from exc
            except FloraError as exc:
                if exc.run_id is None:
                    raise exc.about_run(run_id) from exc
                raise
            status = state.status
            if on_update is not None:
                on_update(state)
            if state.finished:
                return state
            now = clock()
            if deadline is not None and now >= deadline:
                raise wait_timed_out(run_id, timeout, status)
            sleep(interval if deadline is None else max(0.0, min(interval, deadline - now)))
    except KeyboardInterrupt as exc:
        raise interrupted(run_id, signal=exc) from None

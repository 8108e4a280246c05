"""Polling a run until it completes or fails (SPEC §7).

Each poll is one `FloraClient.request()`, so it gets the client's retry policy (429 with
`retry-after` honoured, 5xx and connection errors retried). The loop trusts `status`, never
`progress`, and takes its `sleep` and `clock` as arguments so tests run instantly.

This module raises; it catches nothing but Ctrl-C, which it turns into `InterruptedError_`
carrying the run id (the CLI layer words the hint that resumes the wait).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from flora_cli.api.errors import InterruptedError_, InvalidResponseError, WaitTimeoutError
from flora_cli.vocab import RUN_STATUSES, TERMINAL_STATUSES

if TYPE_CHECKING:
    from flora_cli.api.client import FloraClient

DEFAULT_POLL_INTERVAL = 2.0

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
    parts = urlsplit(value)
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


def fetch_run(client: FloraClient, run_id: str, target: str | None = None) -> RunState:
    """GET the run once (with the client's retries) and check the answer's shape."""
    response = client.request("GET", target or run_path(run_id))
    data = response.data
    problem: str | None = None
    if not isinstance(data, dict):
        problem = "is not a JSON object"
    elif data.get("status") not in RUN_STATUSES:
        problem = (f"has status {data.get('status')!r}, not one of "
                   f"{', '.join(sorted(RUN_STATUSES))}")
    elif isinstance(data.get("run_id"), str) and data["run_id"] != run_id:
        problem = f"is about run {data['run_id']!r}, not {run_id!r}"
    if problem is not None or not isinstance(data, dict):
        raise InvalidResponseError(
            f"The API's answer for run {run_id} {problem}; the response breaks the API "
            "contract.",
            http_status=response.status,
            request_id=response.request_id,
            run_id=run_id,
        )
    return RunState(doc=data, content=response.content, request_id=response.request_id)


def interrupted(run_id: str, doing: str = "waiting for") -> InterruptedError_:
    return InterruptedError_(
        f"Interrupted while {doing} run {run_id}; the run itself goes on in FLORA.",
        run_id=run_id,
    )


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
) -> RunState:
    """Poll until the run is `completed` or `failed` and return its last state.

    The first poll is immediate; then one every `interval` seconds. `timeout` (seconds, None
    for no limit) raises `WaitTimeoutError`; the last poll is made at the deadline, so a run
    that ends just in time is not reported as timed out. Ctrl-C raises `InterruptedError_`.
    Neither stops the run: both carry the run id.
    """
    target = poll_target(client, run_id, poll_url)
    started = clock()
    deadline = None if timeout is None else started + timeout
    try:
        while True:
            state = fetch_run(client, run_id, target)
            if on_update is not None:
                on_update(state)
            if state.finished:
                return state
            now = clock()
            if deadline is not None and now >= deadline:
                raise WaitTimeoutError(
                    f"Run {run_id} is still {state.status} after {timeout:g} s of waiting; "
                    "it goes on in FLORA.",
                    run_id=run_id,
                )
            sleep(interval if deadline is None else max(0.0, min(interval, deadline - now)))
    except KeyboardInterrupt:
        raise interrupted(run_id) from None

"""Retry policy as pure functions, tested as a table.

The client's loop calls these; nothing here sleeps, sends or reads the clock itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: A server-asked delay longer than this is not slept: the command fails and says when to retry.
MAX_SERVER_DELAY = 60.0
INITIAL_DELAY = 0.5
MAX_BACKOFF = 8.0


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a response with this status is retried (budget permitting).

    `x-should-retry: true|false` wins; otherwise 408, 429, 500, 502, 503, 504 are retried and
    every other status (409 included) is final.
    """
    override = headers.get("x-should-retry", "").strip().lower()
    if override == "true":
        return True
    if override == "false":
        return False
    return status in RETRY_STATUSES


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server-asked delay in seconds: `retry-after-ms`, else `retry-after` (seconds or an
    HTTP date). None when absent or unparsable. Never negative."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = -1.0
        if ms >= 0 and ms == ms and ms != float("inf"):  # not NaN, not inf
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        # An HTTP date: rare, and email.utils costs ~9 ms to import on every start.
        from datetime import datetime, timezone
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = now or datetime.now(timezone.utc)
        try:
            return max(0.0, (when - current).total_seconds())
        except (TypeError, OverflowError):
            return None
    if seconds != seconds or seconds == float("inf"):
        return None
    return max(0.0, seconds)


def backoff(retries_done: int, rand: Callable[[], float] = random.random, *,
            cap: float = MAX_BACKOFF) -> float:
    """`min(0.5 × 2^n, cap)` seconds (cap 8 s; 30 s while polling) minus up to 25 % jitter;
    n = retries already done."""
    base = min(INITIAL_DELAY * (2 ** min(max(0, retries_done), 20)), cap)
    return float(base * (1.0 - 0.25 * rand()))


def retry_delay(
    retries_done: int,
    headers: Mapping[str, str],
    *,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> tuple[float, bool]:
    """The delay before the next attempt and whether the server asked for it."""
    asked = parse_retry_after(headers, now)
    if asked is not None:
        return asked, True
    return backoff(retries_done, rand), False

"""The AIMD concurrency limit shared by every worker of a batch.

- `acquire()` takes a slot when fewer than `limit` requests are in flight and no pause is on.
- A 429 anywhere halves the limit (down to 1), once per congestion event: the 429s of requests
  that were already in flight when it was halved do not halve it again.
- Its `retry-after` pauses every worker: none starts an attempt before the pause ends.
- 20 successes in a row raise the limit by one, up to the maximum it started with.

Thread-safe; `clock` and `wait` are injectable so tests run without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64
GROW_AFTER = 20
#: Without a retry-after, a 429 pauses everyone for this long.
DEFAULT_PAUSE = 1.0


@dataclass(frozen=True)
class LimitChange:
    """A change of the limit: when, to what, and why ("429" or "grow")."""

    at: float
    limit: int
    reason: str  # "429" or "grow"


class Limiter:
    def __init__(self, maximum: int, *, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[LimitChange], None] | None = None) -> None:
        if not 1 <= maximum <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be 1 to {MAX_CONCURRENCY}")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.pause_until = 0.0
        self.successes = 0
        self.epoch = 0
        self.history: list[LimitChange] = []
        self._clock = clock
        self._on_change = on_change
        self._cond = threading.Condition()
        self._closed = False

    # -- slots ----------------------------------------------------------------------------

    def acquire(self, stop: threading.Event | None = None) -> int | None:
        """Block until a slot is free and no pause is on; return the epoch the slot was
        taken in (pass it to `rate_limited`), or None when `stop` was set or closed."""
        with self._cond:
            while True:
                if self._closed or (stop is not None and stop.is_set()):
                    return None
                wait = self.pause_until - self._clock()
                if wait <= 0 and self.in_flight < self.limit:
                    self.in_flight += 1
                    return self.epoch
                self._cond.wait(timeout=min(wait, 0.5) if wait > 0 else 0.5)

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter; `acquire` returns None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- what the requests saw --------------------------------------------------------------

    def wait_pause(self, stop: threading.Event | None = None) -> None:
        """Before an attempt: sleep out a batch-wide pause (every worker honours retry-after)."""
        with self._cond:
            while not self._closed and not (stop is not None and stop.is_set()):
                wait = self.pause_until - self._clock()
                if wait <= 0:
                    return
                self._cond.wait(timeout=min(wait, 0.5))

    def rate_limited(self, epoch: int | None, retry_after: float | None) -> None:
        """A 429: pause everyone for `retry_after` (or 1 s); halve the limit once per event."""
        with self._cond:
            now = self._clock()
            self.pause_until = max(self.pause_until, now + (retry_after if retry_after is not None
                                                            else DEFAULT_PAUSE))
            self.successes = 0
            if epoch is None or epoch == self.epoch:
                self.epoch += 1
                new = max(1, self.limit // 2)
                if new != self.limit or not self.history:
                    self.limit = new
                    self._changed(LimitChange(now, new, "429"))
            self._cond.notify_all()

    def succeeded(self) -> None:
        with self._cond:
            self.successes += 1
            if self.successes >= GROW_AFTER:
                self.successes = 0
                if self.limit < self.maximum:
                    self.limit += 1
                    self._changed(LimitChange(self._clock(), self.limit, "grow"))
                    self._cond.notify_all()

    def _changed(self, change: LimitChange) -> None:
        self.history.append(change)
        if len(self.history) > 1000:
            del self.history[:500]
        if self._on_change is not None:
            self._on_change(change)

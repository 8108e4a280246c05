"""The batch's progress on stderr: a live rich display on a terminal, else one
summary line at the end; nothing with --quiet (the summary line too). stdout is never used.

rich loads only when the live display is drawn.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from flora_cli.settings import Settings
from flora_cli.textsafe import clean_line

if TYPE_CHECKING:
    from flora_cli.batch.runner import Stats

REFRESH_PER_SECOND = 4


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def summary_line(stats: Stats, batch_id: str) -> str:
    elapsed = time.monotonic() - stats.began
    rate = stats.started / elapsed if elapsed > 0 else 0.0
    parts = [f"{stats.started} started"]
    if stats.skipped:
        parts.append(f"{stats.skipped} already started")
    if stats.completed:
        parts.append(f"{stats.completed} completed")
    parts.append(f"{stats.failed} incomplete")
    return clean_line(
        f"batch {batch_id}: {stats.done}/{stats.total} · {', '.join(parts)} · "
        f"${stats.cost:,.2f} · {_clock(elapsed)} · {rate:.0f}/s")


def status_line(stats: Stats, width: int) -> str:
    parts = [f"{stats.done}/{stats.total} done",
             f"{stats.started} started",
             f"in flight {stats.in_flight}/{stats.limit}",
             f"waiting {stats.open}" if stats.open else "",
             f"failed {stats.failed}",
             f"cost ${stats.cost:,.2f}",
             f"ETA {_clock(stats.eta())}"]
    line = " · ".join(x for x in parts if x)
    return line if len(line) <= width else line[:max(0, width - 1)] + "…"


class _Display:
    def __init__(self, settings: Settings, total: int, batch_id: str, live: bool) -> None:
        self.settings = settings
        self.total = total
        self.batch_id = batch_id
        self.live = live
        self._stats: Stats | None = None
        self._lock = threading.Lock()
        self._live: Any = None
        self._progress: Any = None
        self._task: Any = None

    def update(self, stats: Stats) -> None:
        self._stats = stats  # drawn by rich's refresh thread; cheap for the workers

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        stats = self._stats
        if stats is None or self._progress is None:
            return Text("")
        self._progress.update(self._task, completed=stats.done)
        width = max(20, self._live.console.width - 1)
        return Group(self._progress, Text(status_line(stats, width), style="dim"))

    def start(self) -> None:
        if not self.live:
            return
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(stderr=True, no_color=self.settings.no_color or None,
                          highlight=False)
        self._progress = Progress(TextColumn(f"batch {clean_line(self.batch_id)}"),
                                  BarColumn(), MofNCompleteColumn(), console=console,
                                  auto_refresh=False)
        self._task = self._progress.add_task("rows", total=self.total)
        outer = self

        class _Renderable:
            def __rich__(self) -> Any:
                return outer._render()

        self._live = Live(_Renderable(), console=console, transient=False,
                          refresh_per_second=REFRESH_PER_SECOND, redirect_stdout=False,
                          redirect_stderr=False)
        self._live.start()

    def note(self, text: str) -> None:
        """A notice above the live display (or one stderr line); nothing with --quiet."""
        if self.settings.quiet:
            return
        line = clean_line(text)
        with self._lock:
            if self._live is not None:
                from rich.markup import escape

                self._live.console.print(escape(line), style="yellow")
            else:
                sys.stderr.write(f"note: {line}\n")
                sys.stderr.flush()

    def finish(self, stats: Stats) -> None:
        self._stats = stats
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        if not self.settings.quiet:
            sys.stderr.write(summary_line(stats, self.batch_id) + "\n")
            sys.stderr.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def live_allowed(settings: Settings) -> bool:
    if settings.quiet or os.environ.get("TERM", "").strip().lower() == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def batch_display(settings: Settings, total: int, batch_id: str) -> Iterator[_Display]:
    display = _Display(settings, total, batch_id, live_allowed(settings))
    display.start()
    try:
        yield display
    finally:
        display.close()

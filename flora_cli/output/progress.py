"""Progress on stderr while a run is awaited and its outputs download.

- Both stdout and stderr are terminals (and TERM is not dumb): a rich progress bar with the
  status, percent, elapsed time and an estimate from `estimated_seconds`.
- Otherwise: one plain line per status change (`run run_x: running`), for logs and CI.
- `--quiet`: nothing.

stdout is never written here. rich is imported only when a bar is shown.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from flora_cli.settings import Settings
from flora_cli.vocab import STATUS_STYLE, TERMINAL_STATUSES

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from rich.text import Text

    from flora_cli.api.download import ByteProgress
    from flora_cli.api.polling import RunState

#: A download shows a bar from this size on (or when its size is unknown).
LARGE_FILE_BYTES = 1_000_000


def interactive(settings: Settings, *, stdout: TextIO | None = None,
                stderr: TextIO | None = None) -> bool:
    """Whether to draw bars: not --quiet, both streams are terminals, TERM is not dumb."""
    if settings.quiet:
        return False
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if os.environ.get("TERM", "").strip().lower() == "dumb":
        return False
    return _isatty(out) and _isatty(err)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def duration(seconds: float) -> str:
    """`45 s`, `2 min 5 s`, `1 h 3 min`: for people, not machines."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def short_duration(seconds: float) -> str:
    """`45 s`, `1:13`, `1:02:05`: narrow enough for a progress bar's row."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _estimate(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


# -- the wait ---------------------------------------------------------------------------


class WaitDisplay:
    """Shows the state of a run while it is awaited. Use as a context manager."""

    def update(self, state: RunState) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> WaitDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineDisplay(WaitDisplay):
    """One stderr line per status change: `run run_x: running`."""

    def __init__(self, run_id: str, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run_id = run_id
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.last: str | None = None

    def update(self, state: RunState) -> None:
        if state.status == self.last:
            return
        self.last = state.status
        from flora_cli.textsafe import clean_line

        line = clean_line(f"run {self.run_id}: {state.status}")
        if state.finished:
            line += f" after {duration(self.clock() - self.started)}"
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(line + "\n")
        stream.flush()


class BarDisplay(WaitDisplay):
    """One live line on stderr; the last frame stays on screen when the wait ends, finalised
    (a ✓, ✗ or ■ instead of the spinner) whether the run ended, the wait timed out or was
    interrupted."""

    def __init__(self, settings: Settings, run_id: str, estimated_seconds: float | None) -> None:
        from rich.progress import Progress

        from flora_cli.output.console import stderr_console

        console = stderr_console(settings)
        self.progress: Progress = Progress(
            _wait_line_column(console, estimated_seconds), console=console,
            refresh_per_second=8, expand=False,
        )
        from flora_cli.textsafe import clean_line

        self.task: TaskID = self.progress.add_task(
            clean_line(run_id), total=100, completed=0, status="pending",
            run_id=clean_line(run_id)
        )
        self.progress.start()
        self.closed = False

    def update(self, state: RunState) -> None:
        from flora_cli.textsafe import clean_line

        fields: dict[str, Any] = {"status": clean_line(state.status)}
        if state.status == "completed":
            fields["completed"] = 100  # trust the status, not the progress number
        elif state.progress is not None:
            fields["completed"] = state.progress
        self.progress.update(self.task, **fields)
        if state.finished:
            self.progress.stop_task(self.task)
            self.close()

    def close(self, stopped: bool = False) -> None:
        if not self.closed:
            self.closed = True
            if stopped:
                self.progress.update(self.task, stopped=True)
                self.progress.stop_task(self.task)
            self.progress.refresh()
            self.progress.stop()

    def __exit__(self, *exc: object) -> None:
        self.close(stopped=exc[0] is not None)


def wait_display(settings: Settings, run_id: str, estimated_seconds: Any = None) -> WaitDisplay:
    if settings.quiet:
        return WaitDisplay()
    if interactive(settings):
        return BarDisplay(settings, run_id, _estimate(estimated_seconds))
    return LineDisplay(run_id)


def estimate_text(estimate: float | None, elapsed: float, percent: float | None,
                  status: str, *, short: bool = False) -> str:
    """The estimate part of the wait line, never contradicting the percent beside it.

    Time left is the estimate's share not yet done (`estimate × (1 − percent)`), so 48 % of a
    15 s estimate is `~8 s left`; "over the estimate" only once the elapsed time passed it.
    """
    if estimate is None:
        return ""
    est = short_duration(estimate)
    if status in TERMINAL_STATUSES:
        return f"estimate {est}"
    if elapsed > estimate:
        return f"over the {est} estimate" if not short else "over estimate"
    left = estimate * (1 - percent / 100) if percent is not None else estimate - elapsed
    left = max(1.0, min(left, estimate))
    return f"~{short_duration(left)} left" + ("" if short else f" of {est}")


def wait_line(run_id: str, status: str, percent: float | None, elapsed: float,
              estimate: float | None, width: int, icon: str = "") -> Text:
    """The whole wait line, fitted to `width` columns: below 80 the bar goes first, then the
    words shrink (`of EST`, the elapsed time), so the line never wraps."""
    from rich.text import Text

    style = STATUS_STYLE.get(status, "")
    pct = f"{percent:3.0f}%" if percent is not None else "  ?%"
    variants = []
    for bar, elapsed_shown, short in ((True, True, False), (False, True, False),
                                      (False, True, True), (False, False, True)):
        if bar and width < 80:
            continue
        est = estimate_text(estimate, elapsed, percent, status, short=short)
        variants.append((bar, elapsed_shown, est))
    variants.append((False, False, ""))
    for bar, elapsed_shown, est in variants:
        text = Text()
        if icon:
            text.append(icon + " ", style=style or None)
        text.append(run_id, style="bold")
        text.append("  ")
        text.append(f"{status:<9}", style=style or None)
        if bar:
            text.append(" ")
            text.append(_bar(percent or 0.0, 30), style=style or "cyan")
        text.append(f" {pct}")
        if elapsed_shown:
            text.append(f"  {short_duration(elapsed)}", style="yellow")
        if est:
            text.append(f"  {est}", style="dim")
        if text.cell_len <= width - 1:
            return text
    text.truncate(max(1, width - 1), overflow="ellipsis")
    return text


def _bar(percent: float, width: int) -> str:
    done = round(width * max(0.0, min(percent, 100.0)) / 100)
    return "━" * done + "╺" + "─" * max(0, width - done - 1) if done < width else "━" * width


def _wait_line_column(console: Any, estimate: float | None) -> Any:
    """A rich progress column that draws the whole wait line (see `wait_line`); defined here
    so rich is imported only when a bar is drawn."""
    from rich.progress import ProgressColumn, Task
    from rich.spinner import Spinner
    from rich.text import Text

    class WaitLineColumn(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self.spinner = Spinner("dots")

        def render(self, task: Task) -> Text:
            status = str(task.fields.get("status", ""))
            if task.fields.get("stopped"):
                icon = "■"
            elif status == "completed":
                icon = "✓"
            elif status == "failed":
                icon = "✗"
            else:
                frame = self.spinner.render(task.get_time())
                icon = frame.plain if isinstance(frame, Text) else "·"
            percent = task.percentage
            return wait_line(str(task.fields.get("run_id", "")), status, percent,
                             task.elapsed or 0.0, estimate, console.width, icon)

    return WaitLineColumn()


# -- downloads --------------------------------------------------------------------------


class BarByteProgress:
    """A transient rich bar per large (or unsized) download; small files show none."""

    def __init__(self, settings: Settings, threshold: int = LARGE_FILE_BYTES) -> None:
        self.settings = settings
        self.threshold = threshold
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def begin(self, label: str, total: int | None) -> None:
        if total is not None and total < self.threshold:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from flora_cli.output.console import stderr_console

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=30),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=stderr_console(self.settings),
            transient=True,
        )
        self.task = self.progress.add_task(label, total=total)
        self.progress.start()

    def advance(self, count: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, count)

    def end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.progress = None
        self.task = None


def byte_progress(settings: Settings) -> ByteProgress:
    if interactive(settings):
        return BarByteProgress(settings)
    from flora_cli.api.download import NoProgress

    return NoProgress()


def notifier(settings: Settings) -> Callable[[str], None]:
    """A stderr line writer that --quiet silences (saved files, kept files)."""
    from flora_cli.output.notices import notice

    return lambda message: notice(settings, message)

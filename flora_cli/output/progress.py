"""Progress on stderr while a run is awaited and its outputs download (SPEC §7).

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

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from flora_cli.api.download import ByteProgress
    from flora_cli.api.polling import RunState

#: A download shows a bar from this size on (or when its size is unknown).
LARGE_FILE_BYTES = 1_000_000
_STATUS_STYLE = {"pending": "yellow", "running": "cyan", "completed": "green", "failed": "red"}


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
        line = f"run {self.run_id}: {state.status}"
        if state.finished:
            line += f" after {duration(self.clock() - self.started)}"
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(line + "\n")
        stream.flush()


class BarDisplay(WaitDisplay):
    """A rich progress bar on stderr; the last frame stays on screen when the run ends."""

    def __init__(self, settings: Settings, run_id: str, estimated_seconds: float | None) -> None:
        from rich.progress import Progress

        from flora_cli.output.console import stderr_console

        self.progress: Progress = Progress(
            *_wait_columns(estimated_seconds),
            console=stderr_console(settings),
            refresh_per_second=8,
        )
        self.task: TaskID = self.progress.add_task(
            run_id, total=100, completed=0, status="pending", run_id=run_id
        )
        self.progress.start()
        self.closed = False

    def update(self, state: RunState) -> None:
        fields: dict[str, Any] = {"status": state.status}
        if state.status == "completed":
            fields["completed"] = 100  # trust the status, not the progress number
        elif state.progress is not None:
            fields["completed"] = state.progress
        self.progress.update(self.task, **fields)
        if state.finished:
            self.progress.stop_task(self.task)
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.progress.refresh()
            self.progress.stop()


def wait_display(settings: Settings, run_id: str, estimated_seconds: Any = None) -> WaitDisplay:
    if settings.quiet:
        return WaitDisplay()
    if interactive(settings):
        return BarDisplay(settings, run_id, _estimate(estimated_seconds))
    return LineDisplay(run_id)


def _wait_columns(estimate: float | None) -> tuple[Any, ...]:
    """The bar's columns: icon, run id and status, bar, percent, elapsed, estimate.

    Defined here so rich is imported only when a bar is drawn.
    """
    from rich.progress import (
        BarColumn,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TaskProgressColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class StatusIconColumn(SpinnerColumn):
        def render(self, task: Task) -> Any:
            status = task.fields.get("status")
            if status == "completed":
                return Text("✓", style="green")
            if status == "failed":
                return Text("✗", style="red")
            return super().render(task)

    class RunColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            status = str(task.fields.get("status", ""))
            text = Text(str(task.fields.get("run_id", "")), style="bold")
            text.append("  ")
            text.append(f"{status:<9}", style=_STATUS_STYLE.get(status, ""))
            return text

    class EstimateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            if estimate is None:
                return Text("")
            est = short_duration(estimate)
            if task.fields.get("status") in ("completed", "failed"):
                return Text(f"estimate {est}", style="dim")
            left = estimate - (task.elapsed or 0.0)
            if left >= 1:
                return Text(f"~{short_duration(left)} left of {est}", style="dim")
            return Text(f"over the {est} estimate", style="dim")

    return (StatusIconColumn(), RunColumn(), BarColumn(bar_width=30), TaskProgressColumn(),
            TimeElapsedColumn(), EstimateColumn())


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

"""The wait path shared by `runs wait` and `--wait` / `--download` on the start commands:
checking its flags, and following a run to its end.

The command layer only wires things: polling lives in `api.polling`, saving files in
`api.download`, progress and rendering in `output`.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from flora_cli import optspec as o
from flora_cli.api.errors import RunFailedError, UsageError
from flora_cli.cli.context import App

if TYPE_CHECKING:
    from pathlib import Path


class DownloadDirType(click.Path):
    """--download DIR: `click.Path(file_okay=False, dir_okay=True, path_type=pathlib.Path)`,
    with pathlib imported when a directory is given rather than when the option is built (a
    start without --download never loads it)."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, dir_okay=True)

    def coerce_path_result(self, value: str | os.PathLike[str]) -> Any:
        from pathlib import Path

        return value if isinstance(value, Path) else Path(value)


DOWNLOAD_TYPE = DownloadDirType()
DEFAULT_POLL_INTERVAL = float(o.POLL_INTERVAL.default)  # type: ignore[arg-type]


def check_wait_flags(ctx: click.Context, *, wait: bool, download: Path | None,
                     text: bool = False) -> bool:
    """Whether to wait; --poll-interval, --wait-timeout and --text without --wait are usage
    errors (silently ignoring them would surprise a script that expects a bounded wait)."""
    if download is not None:
        return True
    if not wait:
        for spec in (o.POLL_INTERVAL, o.WAIT_TIMEOUT, o.POLL_PATIENCE, o.TEXT,
                     o.MAX_DOWNLOAD_SIZE):
            if ctx.get_parameter_source(spec.dest) == ParameterSource.COMMANDLINE:
                raise UsageError(f"{spec.flag} only applies with --wait or --download.")
    return wait


def prepare_download_dir(path: Path | None) -> None:
    """Create --download DIR (and its parents) before anything is sent, so a bad DIR costs no
    run; a usage error naming --download when that fails."""
    if path is None:
        return
    flag = o.DOWNLOAD.flag
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{flag} {path}: exists and is not a directory") from None
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot create the directory: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: the directory is not writable")


def run_failed(doc: dict[str, Any], run_id: str) -> RunFailedError:
    """The error of a failed run: the run's own `error_code`/`error_message` as the error
    object (the CLI's `run_failed` when the run gave none)."""
    code = doc.get("error_code")
    message = doc.get("error_message")
    error: dict[str, Any] = {
        "code": str(code) if code else "run_failed",
        "message": str(message) if message else "The run failed without an error message.",
    }
    text = f"Run {run_id} failed: {error['code']}"
    if message:
        text += f": {message}"
    return RunFailedError(text, error=error, run_id=run_id)


def output_lines(doc: dict[str, Any]) -> list[str]:
    """--text: each output's `url` field, which holds a text output's text itself and a media
    output's URL."""
    outputs = doc.get("outputs")
    if not isinstance(outputs, list):
        return []
    return [str(item.get("url", "")) for item in outputs if isinstance(item, dict)]


def follow_run(
    app: App,
    run_id: str,
    *,
    poll_url: Any = None,
    estimated_seconds: Any = None,
    poll_interval: float | None = None,
    wait_timeout: float | None = None,
    download: Path | None = None,
    text: bool = False,
    poll_patience: float | None = None,
    max_download_size: int | None = None,
) -> None:
    """Wait for the run, save its outputs if asked, print the final document.

    completed → the document (with `local_files` after --download; the texts with --text),
    exit 0; failed → the document, then RunFailedError (exit 10). --wait-timeout is one hard
    deadline over polls, retry waits and downloads (exit 124). Every error carries the run id
    (the App knows the run: see `App.run_started`); Ctrl-C and SIGTERM too.
    """
    import time

    from flora_cli.api.polling import interrupted

    deadline = time.monotonic() + wait_timeout if wait_timeout is not None else None
    try:
        _follow(app, run_id, poll_url=poll_url, estimated_seconds=estimated_seconds,
                poll_interval=poll_interval, wait_timeout=wait_timeout, deadline=deadline,
                download=download, text=text, poll_patience=poll_patience,
                max_download_size=max_download_size)
    except KeyboardInterrupt as exc:  # outside the poll loop (downloads catch their own)
        raise interrupted(run_id, "following", signal=exc) from None


def _follow(
    app: App,
    run_id: str,
    *,
    poll_url: Any,
    estimated_seconds: Any,
    poll_interval: float | None,
    wait_timeout: float | None,
    deadline: float | None,
    download: Path | None,
    text: bool,
    poll_patience: float | None,
    max_download_size: int | None,
) -> None:
    from flora_cli.api.errors import WaitTimeoutError
    from flora_cli.api.polling import wait_for_run, wait_timed_out
    from flora_cli.output.pretty import render_run
    from flora_cli.output.progress import wait_display
    from flora_cli.output.result import emit, emit_lines

    settings = app.settings
    client = app.client()
    with wait_display(settings, run_id, estimated_seconds) as display:
        state = wait_for_run(
            client,
            run_id,
            poll_url=poll_url,
            interval=(poll_interval if poll_interval is not None
                      else app.settings.poll_interval or DEFAULT_POLL_INTERVAL),
            timeout=wait_timeout,
            deadline=deadline,
            patience=poll_patience if poll_patience is not None else float(
                o.POLL_PATIENCE.default),  # type: ignore[arg-type]
            on_update=display.update,
        )

    def pretty(console: Any, doc: Any) -> None:
        render_run(console, doc, app.next_command, files_note=app.files_note)

    from flora_cli.cli.batch import record_wait

    if state.status == "failed" or download is None:
        record_wait(app, run_id, state.doc)
    if state.status == "failed":
        emit(state.doc, settings, raw=state.content, pretty=pretty)
        raise run_failed(state.doc, run_id)

    if download is None:
        if text:
            emit_lines(output_lines(state.doc))
            return
        emit(state.doc, settings, raw=state.content, pretty=pretty)
        return

    from flora_cli.api.download import Downloader
    from flora_cli.output.progress import byte_progress, notifier

    with contextlib.suppress(OSError):  # removed while we waited? (else: a DownloadError)
        download.mkdir(parents=True, exist_ok=True)
    try:
        report = Downloader(
            client, download, run_id,
            notify=notifier(settings), progress=byte_progress(settings),
            deadline=deadline, max_bytes=max_download_size,
        ).save_all(state.doc.get("outputs"))
    except WaitTimeoutError:
        raise wait_timed_out(run_id, wait_timeout, "completed, its outputs not all saved,"
                             ) from None
    doc = dict(state.doc)
    doc["local_files"] = [f.to_document() for f in report.files]
    record_wait(app, run_id, state.doc, doc["local_files"])
    if text:
        emit_lines(output_lines(state.doc))
    else:
        emit(doc, settings, pretty=pretty)
    if report.error is not None:
        raise report.error

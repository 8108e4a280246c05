"""The wait path shared by `runs wait` and `--wait` / `--download` on the start commands
(SPEC §7): its flags, and following a run to its end.

The command layer only wires things: polling lives in `api.polling`, saving files in
`api.download`, progress and rendering in `output`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from flora_cli.api.errors import RunFailedError
from flora_cli.cli import params as p
from flora_cli.cli.context import App

F = TypeVar("F", bound=Callable[..., Any])

#: Hints for the run error codes FLORA documents (CONTRACT §2).
RUN_ERROR_HINTS: dict[str, str] = {
    "model_timeout": "The model timed out; this is usually transient: start the run again.",
    "safety_blocked": "The prompt or inputs were blocked by the safety filter: change them and "
    "start a new run.",
    "input_unreachable": "An input URL could not be fetched: check that it is public and "
    "reachable, then start a new run.",
    "internal_error": "FLORA failed to finish the run; start it again.",
    "provider_error": "The model provider failed to finish the run; start it again.",
}
FAILED_RUN_NOTE = "Failed runs are not charged."

POLL_INTERVAL_OPTION = click.option(
    "--poll-interval", type=p.POLL_INTERVAL, metavar="SECONDS",
    help="Seconds between polls while waiting (minimum 0.5). [default: 2]")
WAIT_TIMEOUT_OPTION = click.option(
    "--wait-timeout", type=p.WAIT_TIMEOUT, metavar="SECONDS",
    help="Give up waiting after this many seconds (exit 124; the run goes on). "
    "[default: no limit]")
DOWNLOAD_OPTION = click.option(
    "--download", type=click.Path(file_okay=False, dir_okay=True, path_type=Path),
    metavar="DIR",
    help="Save every output into DIR as RUN_ID-OUTPUT_ID.EXT (created if needed; existing "
    "files are kept, never overwritten). Implies --wait on the start commands.")
WAIT_FLAG = click.option(
    "--wait", is_flag=True,
    help="After starting, poll until the run completes (exit 0) or fails (exit 10); print "
    "the final run document.")

#: The wait flags of the start commands, in --help order.
START_WAIT_OPTIONS: tuple[Callable[[F], F], ...] = (
    WAIT_FLAG, POLL_INTERVAL_OPTION, WAIT_TIMEOUT_OPTION, DOWNLOAD_OPTION,
)
#: The flags of `runs wait`.
RUN_WAIT_OPTIONS: tuple[Callable[[F], F], ...] = (
    POLL_INTERVAL_OPTION, WAIT_TIMEOUT_OPTION, DOWNLOAD_OPTION,
)


def check_wait_flags(ctx: click.Context, *, wait: bool, download: Path | None) -> bool:
    """Whether to wait; --poll-interval and --wait-timeout without --wait are usage errors
    (silently ignoring them would surprise a script that expects a bounded wait)."""
    if download is not None:
        return True
    if not wait:
        for name, flag in (("poll_interval", "--poll-interval"),
                           ("wait_timeout", "--wait-timeout")):
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                raise click.UsageError(f"{flag} only applies with --wait or --download.")
    return wait


def prepare_download_dir(download: Path | None) -> None:
    """Create --download DIR before anything is sent, so a bad DIR costs no run."""
    if download is not None:
        from flora_cli.api.download import prepare_directory

        prepare_directory(download)


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
    hint = RUN_ERROR_HINTS.get(str(code), "Check the prompt and parameters, then start a new run.")
    return RunFailedError(text, error=error, run_id=run_id, hint=f"{hint} {FAILED_RUN_NOTE}")


def follow_run(
    app: App,
    run_id: str,
    *,
    poll_url: Any = None,
    estimated_seconds: Any = None,
    poll_interval: float | None = None,
    wait_timeout: float | None = None,
    download: Path | None = None,
) -> None:
    """Wait for the run, save its outputs if asked, print the final document.

    completed → the document (with `local_files` after --download), exit 0; failed → the
    document, then RunFailedError (exit 10). Timeout and Ctrl-C raise from the poll loop.
    """
    from flora_cli.api.polling import DEFAULT_POLL_INTERVAL, resume_command, wait_for_run
    from flora_cli.output.pretty import render_run
    from flora_cli.output.progress import wait_display
    from flora_cli.output.result import emit

    settings = app.settings
    client = app.client()
    resume = resume_command(run_id, str(download) if download is not None else None)
    if app.sandbox is not None:
        resume += (" (against a sandbox that outlives one command: the embedded --sandbox "
                   "stops with this command and its runs with it; use 'flora sandbox serve')")
    with wait_display(settings, run_id, estimated_seconds) as display:
        state = wait_for_run(
            client,
            run_id,
            poll_url=poll_url,
            interval=poll_interval if poll_interval is not None else DEFAULT_POLL_INTERVAL,
            timeout=wait_timeout,
            on_update=display.update,
            resume=resume,
        )

    if state.status == "failed":
        emit(state.doc, settings, raw=state.content, pretty=render_run)
        raise run_failed(state.doc, run_id)

    if download is None:
        emit(state.doc, settings, raw=state.content, pretty=render_run)
        return

    from flora_cli.api.download import Downloader
    from flora_cli.output.progress import byte_progress, notifier

    with contextlib.suppress(OSError):  # removed while we waited? (else: a DownloadError)
        download.mkdir(parents=True, exist_ok=True)
    report = Downloader(
        client, download, run_id, resume=resume,
        notify=notifier(settings), progress=byte_progress(settings),
    ).save_all(state.doc.get("outputs"))
    doc = dict(state.doc)
    doc["local_files"] = [f.to_document() for f in report.files]
    emit(doc, settings, pretty=render_run)
    if report.error is not None:
        raise report.error


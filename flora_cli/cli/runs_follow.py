"""`flora runs get`, `runs wait` and `runs history`: the runs subcommands about runs that exist.

Their own module, looked up through the `runs` group's lazy command table, so that a start
(`runs start-generation`) does not build their options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from flora_cli import optspec as o
from flora_cli.cli import batch as b
from flora_cli.cli import params as p
from flora_cli.cli.context import get_app
from flora_cli.cli.options import opt, typed
from flora_cli.cli.waiting import DOWNLOAD_TYPE, follow_run, prepare_download_dir

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class GetOptions:
    """The arguments of `runs get`."""

    run_id: str


@click.command("get")
@click.argument("run_id", type=p.RUN_ID, metavar="RUN_ID")
@typed(GetOptions)
def get_run(ctx: click.Context, opts: GetOptions) -> None:
    """Show one run (GET /runs/{run_id}): status, progress, outputs, cost, error."""
    from flora_cli.api.polling import fetch_run
    from flora_cli.output.pretty import render_run
    from flora_cli.output.result import emit

    app = get_app(ctx)
    app.looking_at_run(opts.run_id)
    state = fetch_run(app.client(), opts.run_id)
    emit(state.doc, app.settings, raw=state.content,
         pretty=lambda console, doc: render_run(console, doc, app.next_command,
                                                files_note=app.files_note))


@dataclass(frozen=True)
class WaitOptions:
    """The flags of `runs wait`."""

    run_id: str
    poll_interval: float | None = field(
        metadata=opt(o.POLL_INTERVAL, type=p.POLL_INTERVAL, default=None))  # profile below it
    wait_timeout: float | None = field(metadata=opt(o.WAIT_TIMEOUT, type=p.WAIT_TIMEOUT))
    poll_patience: float | None = field(metadata=opt(o.POLL_PATIENCE, type=p.POLL_PATIENCE))
    download: Path | None = field(metadata=opt(o.DOWNLOAD, type=DOWNLOAD_TYPE))
    max_download_size: int | None = field(
        metadata=opt(o.MAX_DOWNLOAD_SIZE, type=p.BYTE_SIZE))
    text: bool = field(metadata=opt(o.TEXT, is_flag=True))


@click.command("wait")
@click.argument("run_id", type=p.RUN_ID, metavar="RUN_ID")
@typed(WaitOptions)
def wait_run(ctx: click.Context, opts: WaitOptions) -> None:
    """Poll a run until it completes or fails; optionally save its outputs.

    Progress goes to stderr; stdout gets only the final run document. Exit 0 when the run
    completed, 10 when it failed, 124 after --wait-timeout, 9 when the API gave no good
    answer for --poll-patience, 130 on Ctrl-C, 143 on SIGTERM (the run goes on in FLORA
    either way; run this command again to resume).
    """
    app = get_app(ctx)
    app.run_started(opts.run_id, opts.download)
    prepare_download_dir(opts.download)
    follow_run(app, opts.run_id, poll_interval=opts.poll_interval,
               wait_timeout=opts.wait_timeout, download=opts.download, text=opts.text,
               poll_patience=opts.poll_patience, max_download_size=opts.max_download_size)


@dataclass(frozen=True)
class HistoryOptions:
    """The flags of `runs history`."""

    limit: int = field(metadata=opt(o.HISTORY_LIMIT, type=click.IntRange(min=0)))
    status: str | None = field(metadata=opt(o.HISTORY_STATUS,
                                            type=click.Choice(b.HISTORY_STATUSES)))
    batch_id: str | None = field(metadata=opt(o.HISTORY_BATCH))
    since: str | None = field(metadata=opt(o.HISTORY_SINCE, type=b.SINCE))


@click.command("history")
@typed(HistoryOptions)
def runs_history(ctx: click.Context, opts: HistoryOptions) -> None:
    """List the runs this CLI started, from the local ledger (no network).

    Every run started by 'runs start-generation' and 'generations create', single or with
    --from-file, is recorded with its key, batch and row, last known status, cost and files;
    'runs wait' and --wait update it. The ledger is a SQLite file in the state dir
    ($FLORA_STATE_DIR overrides it); FLORA_NO_LEDGER=1 turns it off.
    """
    b.history(get_app(ctx), limit=opts.limit, status=opts.status, batch=opts.batch_id,
              since=opts.since)

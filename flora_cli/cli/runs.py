"""`flora runs …`: start a generation run (deprecated upstream), get a run, wait for a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flora_cli.cli import params as p
from flora_cli.cli.context import get_app
from flora_cli.cli.generation import generation_options, run_generation
from flora_cli.cli.options import global_options
from flora_cli.cli.waiting import RUN_WAIT_OPTIONS, follow_run, prepare_download_dir


@click.group()
def runs() -> None:
    """Start generation runs and follow them."""


@runs.command("start-generation")
@generation_options
@click.pass_context
def start_generation(ctx: click.Context, /, **opts: Any) -> None:
    """Start a generation run (POST /runs/generation; deprecated upstream).

    Sends one request with one idempotency key reused on every retry, so a retry never
    starts a second run. Prints the API's answer: the run id, estimated time, cost and poll URL.
    With --wait (or --download DIR) it follows the run to its end and prints the final run
    document instead.
    """
    run_generation(ctx, "/runs/generation", deprecated=True, **opts)


@runs.command("get")
@click.argument("run_id", type=p.RUN_ID, metavar="RUN_ID")
@global_options
@click.pass_context
def get_run(ctx: click.Context, /, run_id: str) -> None:
    """Show one run (GET /runs/{run_id}): status, progress, outputs, cost, error.

    \b
    Example:
      flora runs get run_abc123 --json | jq -r .status
    """
    from flora_cli.api.polling import fetch_run
    from flora_cli.output.pretty import render_run
    from flora_cli.output.result import emit

    app = get_app(ctx)
    state = fetch_run(app.client(), run_id)
    emit(state.doc, app.settings, raw=state.content, pretty=render_run)


def _wait_options(f: Any) -> Any:
    f = global_options(f)
    for option in reversed(RUN_WAIT_OPTIONS):
        f = option(f)
    return f


@runs.command("wait")
@click.argument("run_id", type=p.RUN_ID, metavar="RUN_ID")
@_wait_options
@click.pass_context
def wait_run(ctx: click.Context, /, run_id: str, poll_interval: float | None,
             wait_timeout: float | None, download: Path | None) -> None:
    """Poll a run until it completes or fails; optionally save its outputs.

    Progress goes to stderr; stdout gets only the final run document. Exit 0 when the run
    completed, 10 when it failed, 124 after --wait-timeout, 130 on Ctrl-C (the run goes on
    in FLORA either way; run this command again to resume).

    \b
    Examples:
      flora runs wait run_abc123
      flora runs wait run_abc123 --download ./out --json | jq .local_files
    """
    app = get_app(ctx)
    prepare_download_dir(download)
    follow_run(app, run_id, poll_interval=poll_interval, wait_timeout=wait_timeout,
               download=download)

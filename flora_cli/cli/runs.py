"""`flora runs …`: start a generation run (deprecated upstream), get a run, wait for a run.

`runs get`, `runs wait` and `runs history` live in `flora_cli.cli.runs_follow`, imported only
when one of them is looked up (the group's commands are a lazy table, as the root's are).
"""

from __future__ import annotations

import click

from flora_cli.cli import LazyCommands
from flora_cli.cli.generation import GenerationOptions, run_generation
from flora_cli.cli.options import typed


@click.group()
def runs() -> None:
    """Start generation runs and follow them."""


@click.command("start-generation")
@typed(GenerationOptions)
def start_generation(ctx: click.Context, opts: GenerationOptions) -> None:
    """Start a generation run (POST /runs/generation; deprecated upstream).

    Sends one request with one idempotency key reused on every retry, so a retry never
    starts a second run. Prints the API's answer: the run id, estimated time, cost and poll URL.
    With --wait (or --download DIR) it follows the run to its end and prints the final run
    document instead. 'flora generations create' takes the same flags on the replacement
    endpoint.
    \f
    POST /runs/generation is deprecated upstream: each run prints one warning line on standard
    error that names 'flora generations create', unless --quiet is given or
    FLORA_NO_DEPRECATION_WARNING=1 is set.
    """
    run_generation(ctx, "/runs/generation", opts, deprecated=True)


runs.commands = LazyCommands({
    "start-generation": ("flora_cli.cli.runs", "start_generation"),
    "get": ("flora_cli.cli.runs_follow", "get_run"),
    "wait": ("flora_cli.cli.runs_follow", "wait_run"),
    "history": ("flora_cli.cli.runs_follow", "runs_history"),
}, path=("runs",))

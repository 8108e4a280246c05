"""`flora runs …`: start a generation run (deprecated upstream), get a run, wait for a run."""

from __future__ import annotations

from typing import Any

import click

from flora_cli.cli.generation import generation_options, run_generation


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
    """
    run_generation(ctx, "/runs/generation", deprecated=True, **opts)

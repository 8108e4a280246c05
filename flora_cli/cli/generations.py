"""`flora generations create`: the non-deprecated twin of `runs start-generation`."""

from __future__ import annotations

from typing import Any

import click

from flora_cli.cli.generation import generation_options, run_generation


@click.group()
def generations() -> None:
    """Start generations (POST /generate, the replacement for POST /runs/generation)."""


@generations.command("create")
@generation_options
@click.pass_context
def create(ctx: click.Context, /, **opts: Any) -> None:
    """Start a generation (POST /generate): same flags as 'runs start-generation'."""
    run_generation(ctx, "/generate", deprecated=False, **opts)

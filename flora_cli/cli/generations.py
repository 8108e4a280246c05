"""`flora generations create`: the non-deprecated twin of `runs start-generation`."""

from __future__ import annotations

import click

from flora_cli.cli.generation import GenerationOptions, run_generation
from flora_cli.cli.options import typed


@click.group()
def generations() -> None:
    """Start generations (POST /generate, the replacement for POST /runs/generation)."""


@generations.command("create")
@typed(GenerationOptions)
def create(ctx: click.Context, opts: GenerationOptions) -> None:
    """Start a generation (POST /generate): same flags as 'runs start-generation'."""
    run_generation(ctx, "/generate", opts, deprecated=False)

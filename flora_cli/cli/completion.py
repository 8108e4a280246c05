"""`flora completion SHELL`: print the shell completion script (click's completion machinery)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for bash, zsh or fish.

    \b
    bash:  eval "$(flora completion bash)"
           (or save it as ~/.local/share/bash-completion/completions/flora)
    zsh:   flora completion zsh > "${fpath[1]}/_flora"
    fish:  flora completion fish > ~/.config/fish/completions/flora.fish
    """
    click.echo(completion_script(shell), nl=False)


def completion_script(shell: str, prog_name: str = "flora") -> str:
    from click.shell_completion import get_completion_class

    from flora_cli.cli import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click.Choice limits the shells
        raise click.UsageError(f"unsupported shell: {shell}")
    complete_var = "_" + prog_name.replace("-", "_").upper() + "_COMPLETE"
    source = cls(cli, {}, prog_name, complete_var).source()
    return source if source.endswith("\n") else source + "\n"

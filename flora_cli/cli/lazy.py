"""A command group whose module is imported only when the group is used.

Every leaf carries the global options, so defining a command costs a few dozen click objects:
groups that most invocations never touch (`auth`, `config`) are registered by name and a short
help line, and their module loads when the group is listed, asked for help, completed or run.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    def __init__(self, name: str, target: str, *, short_help: str) -> None:
        super().__init__(name=name, short_help=short_help)
        self._target = target  # "package.module:attribute"
        self._real: click.Group | None = None

    def real(self) -> click.Group:
        if self._real is None:
            module, _, attribute = self._target.partition(":")
            group = getattr(importlib.import_module(module), attribute)
            assert isinstance(group, click.Group)
            self._real = group
            self.commands.update(group.commands)
            self.help = group.help
            self.epilog = group.epilog
        return self._real

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.real()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self.real()
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.real()
        super().format_help(ctx, formatter)

    def to_info_dict(self, ctx: click.Context) -> dict[str, Any]:
        self.real()
        return super().to_info_dict(ctx)

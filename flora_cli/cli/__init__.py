"""The click command tree and its one error handler.

This module imports click and the standard library only: `flora --help` must start fast.
httpx, pydantic, rich, starlette and uvicorn load inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from flora_cli import __version__
from flora_cli.api.errors import (
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    FloraError,
    InterruptedError_,
)
from flora_cli.cli.completion import completion
from flora_cli.cli.context import current_settings
from flora_cli.cli.discovery import models, projects, workspaces
from flora_cli.cli.generations import generations
from flora_cli.cli.options import global_options
from flora_cli.cli.runs import runs
from flora_cli.cli.sandbox import sandbox
from flora_cli.settings import Settings, env_flag, guess_format

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _version_message() -> str:
    import platform

    return (
        f"flora-cli {__version__} (Python {platform.python_version()}; "
        f"{platform.system()} {platform.machine()})"
    )


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_version_message())
        ctx.exit(0)


def handle_error(exc: BaseException, settings: Settings | None, argv: list[str]) -> int:
    """Render any error on stderr and return its exit code. The one place errors end."""
    from flora_cli.output.errors import render_error

    fmt = settings.format if settings is not None else guess_format(argv)
    if isinstance(exc, FloraError):
        render_error(exc, fmt, settings)
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        if fmt == "pretty" or not isinstance(exc, click.UsageError):
            exc.show()
        else:
            render_error(FloraError(exc.format_message(), code="usage_error",
                                    exit_code=exc.exit_code), fmt, settings)
        return exc.exit_code
    if isinstance(exc, (KeyboardInterrupt, click.Abort)):
        render_error(InterruptedError_("Interrupted."), fmt, settings)
        return EXIT_INTERRUPTED
    if env_flag(os.environ, "FLORA_DEBUG"):
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    render_error(
        FloraError(
            f"unexpected error: {type(exc).__name__}: {exc}",
            code="internal_error",
            hint="This is a bug in flora-cli. Run again with FLORA_DEBUG=1 for a traceback "
            "to include in a bug report.",
        ),
        fmt,
        settings,
    )
    return EXIT_UNEXPECTED


class FloraGroup(click.Group):
    """The root group: its invoke is where every error of a command is caught, and its main
    where the errors of parsing the root's own arguments end."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name or "flora", complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_broken_pipe()
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except (Exception, KeyboardInterrupt) as exc:
            code = handle_error(exc, None, argv)
        sys.exit(code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, BrokenPipeError):
            raise
        except Exception as exc:
            code = handle_error(exc, current_settings(ctx), sys.argv[1:])
        except KeyboardInterrupt as exc:
            code = handle_error(exc, current_settings(ctx), sys.argv[1:])
        ctx.exit(code)


@click.group(cls=FloraGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_show_version, help="Show the version, Python version and platform.")
@global_options
def cli() -> None:
    """flora: start and follow FLORA generations from the command line.

    \b
    Examples:
      flora --sandbox runs start-generation --type image --prompt "a ceramic mug"
      flora runs start-generation --project-id prj_… --workspace-id ws_… \\
          --type image --prompt "a ceramic mug" --json | jq -r .run_id

    Global options may be given before the command or after it. Exit codes are listed in
    the README and in man flora(1).
    """


cli.add_command(runs)
cli.add_command(generations)
cli.add_command(models)
cli.add_command(workspaces)
cli.add_command(projects)
cli.add_command(sandbox)
cli.add_command(completion)


def _quiet_broken_pipe() -> NoReturn:
    # stdout was closed early (`flora … | head`): end quietly, without a traceback.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover
        pass
    sys.exit(0)


def main() -> NoReturn:
    """The console script `flora` and `python -m flora_cli`."""
    cli.main(prog_name="flora")

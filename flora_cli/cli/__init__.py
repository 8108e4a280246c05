"""The click command tree and its one error handler.

This module imports click and the standard library only: `flora --help` must start fast.
httpx, pydantic, rich, starlette and uvicorn load inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click
from click import formatting as click_formatting

from flora_cli import __version__
from flora_cli.api.errors import (
    FloraError,
    InterruptedError_,
    Terminated,
    TerminatedError,
    UsageError,
)
from flora_cli.cli.options import global_options
from flora_cli.vocab import env_flag

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


def usage_error(exc: click.ClickException) -> FloraError:
    """click's own errors (a bad flag value, an unknown option, a missing command) as the one
    usage error type, rendered like every other error."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError) or (
        isinstance(exc, click.UsageError) and exc.ctx is not None
        and isinstance(exc.ctx.command, click.Group) and exc.message.startswith("Usage:")
    ):
        ctx = exc.ctx
        assert ctx is not None
        group = ctx.command
        assert isinstance(group, click.Group)
        names = ", ".join(group.list_commands(ctx))
        return UsageError(f"missing command: '{ctx.command_path}' takes one of: {names}.")
    message = exc.format_message()
    if isinstance(exc, click.UsageError):
        return UsageError(message)
    return FloraError(message, code="cli_error", exit_code=exc.exit_code)


def handle_error(exc: BaseException, ctx: click.Context | None, argv: list[str]) -> int:
    """Render any error on stderr and return its exit code. The one place errors end."""
    from flora_cli.cli.context import PATH_KEY, current_app
    from flora_cli.cli.hints import Situation, hint_for
    from flora_cli.output.errors import render_error
    from flora_cli.settings import guess_format

    app = current_app(ctx)
    settings = app.settings if app is not None else None
    fmt = settings.format if settings is not None else guess_format(argv)
    command_path = ctx.find_root().meta.get(PATH_KEY) if ctx is not None else None
    err: FloraError
    if isinstance(exc, FloraError):
        err = exc
    elif isinstance(exc, click.ClickException):
        err = usage_error(exc)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            command_path = exc.ctx.command_path
    elif isinstance(exc, Terminated):
        err = TerminatedError("Terminated (SIGTERM).")
    elif isinstance(exc, (KeyboardInterrupt, click.Abort)):
        err = InterruptedError_("Interrupted.")
    else:
        if env_flag(os.environ, "FLORA_DEBUG"):
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
        err = FloraError(f"unexpected error: {type(exc).__name__}: {exc}", code="internal_error")
    situation = Situation(
        run_id=app.run_id if app is not None else None,
        resume=app.resume_command() if app is not None else None,
        asked_run_id=app.asked_run_id if app is not None else None,
        sandbox=app is not None and app.sandbox is not None,
        command_path=command_path,
    )
    render_error(err, fmt, settings, hint=hint_for(err, situation),
                 run_id=situation.run_id,
                 idempotency_key=app.idempotency_key if app is not None else None)
    return err.exit_code


def terminal_columns() -> int:
    """`shutil.get_terminal_size().columns`, without importing shutil (and the compression
    modules it loads) on `flora --help`: COLUMNS when it is a positive integer, else the width
    of the terminal on sys.__stdout__, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class RootContext(click.Context):
    """The root's context: click's help formatter at click's width (the terminal's, at most
    max_content_width, less 2, at least 50), measured by `terminal_columns`."""

    def make_formatter(self) -> click.HelpFormatter:
        width = self.terminal_width
        if width is None and click_formatting.FORCED_WIDTH is None:
            width = max(min(terminal_columns(), self.max_content_width or 80) - 2, 50)
        return self.formatter_class(width=width, max_width=self.max_content_width)


class FloraGroup(click.Group):
    """The root group: its invoke is where every error of a command is caught, and its main
    where the errors of parsing the root's own arguments end."""

    context_class = RootContext

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        """Run the CLI. Standalone (the console script): exit with the code. Otherwise
        (`standalone_mode=False`, as when embedded): errors are rendered the same way and the
        exit code is returned."""
        argv = list(sys.argv[1:] if args is None else args)
        self.argv = argv
        try:
            check_argv(argv)
            rv = super().main(argv, prog_name or "flora", complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
            sys.stdout.flush()
        except BrokenPipeError:
            code = _quiet_broken_pipe()
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except (Exception, KeyboardInterrupt) as exc:
            code = handle_error(exc, getattr(exc, "ctx", None), argv)
        if standalone_mode:
            sys.exit(code)
        return code

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of `flora --help`, without importing every command's module."""
        rows = [(name, SHORT_HELP[name]) for name in sorted(COMMANDS)]
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, _short_help(text, limit))
                                for name, text in rows])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, BrokenPipeError):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            code = handle_error(exc, ctx, getattr(self, "argv", sys.argv[1:]))
        ctx.exit(code)


@click.group(name="flora", cls=FloraGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_show_version, help="Show the version, Python version and platform.")
@global_options
def cli() -> None:
    """flora: start and follow FLORA generations from the command line.

    Global options may be given before the command or after it. Exit codes are listed in
    the README and in man flora(1).
    \f
    flora is a command-line client for FLORA's generation API. It starts generation runs,
    follows them until they complete or fail, and saves their outputs. It is made for the
    terminal, for shell scripts and for CI pipelines that read its JSON output.

    Global options may be given before the command or after it: 'flora --json runs
    start-generation ...' and 'flora runs start-generation ... --json' are the same. An option
    given on the command line wins over its environment variable, which wins over the default.

    Standard output carries only the result document. Notices, progress, debug traces and
    errors go to standard error. With --format auto (the default) the result is rendered for
    people when standard output is a terminal, and printed as JSON otherwise: json is the API's
    response as received, indented; jsonl the same on one line; yaml the same as YAML; raw the
    response body byte for byte. --query applies a JMESPath expression to the document before
    it is printed, and -r prints a string result without quotes.

    An error is rendered in the output format too: a readable panel in pretty, and otherwise
    one line of JSON as the last line of standard error, such as {"error": {"code":
    "insufficient_credits", "message": "Insufficient credits."}, "http_status": 402,
    "request_id": "req_123", "idempotency_key": "...", "exit_code": 6}. The exit status says
    what went wrong (see EXIT STATUS).

    --sandbox runs any command against a faithful local FLORA API started on a free loopback
    port for that one command, with a built-in test key and its own workspace and project: a
    way to try flora with no account.
    """


#: The commands, by name: (module, attribute). A command's module is imported only when the
#: command is looked up, so `flora runs …` never pays for `auth`, `config`, the discovery
#: commands or the sandbox's options, and `flora --help` lists them from SHORT_HELP without
#: importing any (tests/test_seams.py checks that SHORT_HELP says what the commands say).
COMMANDS: dict[str, tuple[str, str]] = {
    "runs": ("flora_cli.cli.runs", "runs"),
    "generations": ("flora_cli.cli.generations", "generations"),
    "models": ("flora_cli.cli.discovery", "models"),
    "workspaces": ("flora_cli.cli.discovery", "workspaces"),
    "projects": ("flora_cli.cli.discovery", "projects"),
    "sandbox": ("flora_cli.cli.sandbox", "sandbox"),
    "auth": ("flora_cli.cli.auth", "auth"),
    "config": ("flora_cli.cli.configcmd", "config"),
    "completion": ("flora_cli.cli.completion", "completion"),
}


SHORT_HELP: dict[str, str] = {
    "runs": "Start generation runs and follow them.",
    "generations": "Start generations (POST /generate, the replacement for POST "
    "/runs/generation).",
    "models": "The models you can use: their IDs, params, estimated cost and time.",
    "workspaces": "The workspaces your key can see.",
    "projects": "The projects of a workspace.",
    "sandbox": "A faithful local FLORA API, for trying the CLI and for your own CI.",
    "auth": "Log in once: store an API key per profile, check it, print it, remove it.",
    "config": "Show and change settings per profile (config.toml).",
    "completion": "Print the completion script for bash, zsh or fish.",
}


def _add_examples(command: click.Command, path: tuple[str, ...]) -> None:
    """Each command's worked examples (flora_cli.cli.examples) as its --help epilog. A group
    whose commands are a lazy table gets them as each one loads."""
    from flora_cli.cli.examples import epilog

    command.epilog = epilog(path) or command.epilog
    if isinstance(command, click.Group) and not isinstance(command.commands, LazyCommands):
        for name, sub in command.commands.items():
            _add_examples(sub, (*path, name))


def _root_epilog() -> str | None:
    from flora_cli.cli.examples import epilog

    return epilog(())


class LazyCommands(dict[str, click.Command]):
    """A group's `commands` (the root's, `runs`'s): a dict that imports a command's module on
    first use. `path`: the group's own command path below the root."""

    def __init__(self, specs: dict[str, tuple[str, str]], path: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._specs = specs
        self._path = path

    def _load(self, name: str) -> None:
        if name in self._specs and not dict.__contains__(self, name):
            import importlib

            module, attr = self._specs[name]
            command = getattr(importlib.import_module(module), attr)
            _add_examples(command, (*self._path, name))
            dict.__setitem__(self, name, command)

    def _load_all(self) -> None:
        for name in self._specs:
            self._load(name)

    def __getitem__(self, name: str) -> click.Command:
        self._load(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        self._load(name)
        return dict.get(self, name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._specs or dict.__contains__(self, name)

    def __iter__(self) -> Any:
        return iter(list(self._specs) + [n for n in dict.keys(self) if n not in self._specs])

    def __len__(self) -> int:
        return len(set(self._specs) | set(dict.keys(self)))

    def keys(self) -> Any:
        self._load_all()
        return dict.keys(self)

    def values(self) -> Any:
        self._load_all()
        return dict.values(self)

    def items(self) -> Any:
        self._load_all()
        return dict.items(self)


cli.commands = LazyCommands(COMMANDS)
cli.epilog = _root_epilog()


def _short_help(text: str, limit: int) -> str:
    """click's own cut of a short help at `limit` columns (its helper is deprecated): the
    first sentence when it fits, else whole words and `...`."""
    words = text.split()
    total = 0
    for i, word in enumerate(words):
        total += len(word) + (i > 0)
        if total > limit:
            break
        if word.endswith("."):
            return " ".join(words[: i + 1])
        if total == limit and i != len(words) - 1:
            break
    else:
        return " ".join(words)
    total += 3
    while i > 0:
        total -= len(words[i]) + (i > 0)
        if total <= limit:
            break
        i -= 1
    return " ".join(words[:i]) + "..."


def check_argv(argv: list[str]) -> None:
    """Arguments that are not valid UTF-8 (Python hands them over as lone surrogates) are a
    usage error naming the flag they belong to, before anything else looks at them."""
    for i, arg in enumerate(argv):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            if arg.startswith("--") and "=" in arg:
                where = arg.split("=", 1)[0]
            elif i > 0 and argv[i - 1].startswith("-") and argv[i - 1] != "--":
                where = argv[i - 1]
            else:
                where = f"argument {i + 1}"
            shown = where.encode("utf-8", "backslashreplace").decode("utf-8")
            raise UsageError(f"{shown}: the value is not valid UTF-8") from None


def _on_sigterm(signum: int, frame: object) -> None:
    # Handled exactly like Ctrl-C: a KeyboardInterrupt subclass, so partial files are
    # removed, displays finalised and the run id kept with its resume hint; exit 143.
    raise Terminated()


def _quiet_broken_pipe() -> int:
    # stdout was closed early (`flora … | head`): end quietly, without a traceback.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover
        pass
    return 0


def main() -> NoReturn:
    """Run the CLI and exit; the console script `flora` and `python -m flora_cli` call it
    through `flora_cli.__main__`."""
    import gc
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    if os.environ.get("_FLORA_COMPLETE"):
        import flora_cli.cli.completion  # noqa: F401  (installs flora's completion classes)
    try:
        sys.exit(cli.main(prog_name="flora"))
    finally:
        # The command is over: spare the interpreter's collections at exit a walk over every
        # object of every loaded module (20-40 ms of a `--json` start, ~10 ms of `--help`).
        # Threads, atexit handlers, stream flushing and plain reference counting run as
        # before; only objects held in reference cycles are left to the process's end.
        gc.freeze()

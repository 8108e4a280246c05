"""`--help` works for every command of the click tree, walked generically."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from flora_cli.cli import cli

#: SPEC §1: the commands that must exist.
SPEC_COMMANDS = {
    ("runs", "start-generation"),
    ("runs", "get"),
    ("runs", "wait"),
    ("generations", "create"),
    ("sandbox", "serve"),
    ("completion",),
}


def command_paths(command: click.Command = cli, path: tuple[str, ...] = (),
                  parent: click.Context | None = None) -> Iterator[tuple[str, ...]]:
    # with the command's context_settings, as click makes it (`-h` is a help option there)
    ctx = click.Context(command, info_name=path[-1] if path else "flora", parent=parent,
                        **command.context_settings)
    yield path
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
            yield from command_paths(sub, (*path, name), ctx)


PATHS = list(command_paths())


def _id(path: tuple[str, ...]) -> str:
    return " ".join(path) or "flora"


def test_the_walk_finds_every_command_of_the_spec() -> None:
    missing = SPEC_COMMANDS - set(PATHS)
    assert not missing, f"commands of SPEC §1 missing from the tree: {sorted(missing)}"


@pytest.mark.parametrize("path", PATHS, ids=_id)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_works_for_every_command(path: tuple[str, ...], flag: str) -> None:
    result = CliRunner().invoke(cli, [*path, flag], prog_name="flora")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(('flora', *path))} "), result.output
    assert "Options:" in result.output


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_help_of_the_installed_executable(path: tuple[str, ...]) -> None:
    flora = Path(sys.executable).parent / "flora"
    assert flora.exists(), f"no flora executable next to {sys.executable}"
    proc = subprocess.run([str(flora), *path, "--help"], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: flora"), proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("columns", [None, "30", "52", "60", "99", "100", "101", "102", "250",
                                     "abc", "-3", "0"])
def test_root_help_width_is_clicks(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> None:
    # The root context measures the terminal without shutil; the width must be click's own.
    from flora_cli.cli import CONTEXT_SETTINGS, RootContext, cli

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    ctx = RootContext(cli, max_content_width=CONTEXT_SETTINGS["max_content_width"])
    want = click.HelpFormatter(max_width=CONTEXT_SETTINGS["max_content_width"]).width
    assert ctx.make_formatter().width == want
    assert cli.context_class is RootContext

"""Shell completion: the scripts, real shells answering TAB, and what a completion run imports.

The completion scripts call `flora` back, so `flora` must be on PATH: it is the executable next
to this Python (the virtual environment's bin/).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flora_cli.cli import cli
from flora_cli.cli.completion import SHELLS, completion_script
from tests.pty_shell import pty_shell

ROOT = Path(__file__).resolve().parent.parent
COMPLETIONS = ROOT / "completions"
FILES = {"bash": "flora.bash", "zsh": "_flora", "fish": "flora.fish"}
BIN = str(Path(sys.executable).parent)
TYPES = ["image", "video", "audio", "text"]
FORMATS = ["auto", "json", "jsonl", "yaml", "pretty", "raw"]
HEAVY = ("httpx", "httpcore", "h11", "pydantic", "rich", "starlette", "uvicorn")


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _flora_on_path() -> None:
    assert shutil.which("flora", path=BIN), f"no flora executable in {BIN}"


# --- the scripts -------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_committed_script(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell], prog_name="flora")
    assert result.exit_code == 0, result.output
    assert result.output == completion_script(shell)
    committed = (COMPLETIONS / FILES[shell]).read_text(encoding="utf-8")
    assert result.output == committed, (
        f"completions/{FILES[shell]} is stale: run `python scripts/gen_docs.py`"
    )


def test_completion_scripts_register_flora() -> None:
    assert "complete -o nosort -F _flora_completion flora" in completion_script("bash")
    assert completion_script("zsh").startswith("#compdef flora\n")
    assert 'complete --no-files --command flora --arguments "(_flora_completion)"' in (
        completion_script("fish")
    )


def test_completion_rejects_an_unknown_shell() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh"], prog_name="flora")
    assert result.exit_code == 2
    assert "tcsh" in result.output


def test_completion_accepts_global_options_after_the_command() -> None:
    result = CliRunner().invoke(cli, ["completion", "bash", "--quiet", "--json"],
                                prog_name="flora")
    assert result.exit_code == 0, result.output
    assert result.output == completion_script("bash")


# --- bash, for real ----------------------------------------------------------------------------


def bash_complete(*words: str, stdin: int | None = None) -> list[str]:
    """COMPREPLY after TAB on `words` (the last one is the word being completed)."""
    script = "\n".join([
        f"source {shlex.quote(str(COMPLETIONS / FILES['bash']))}",
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
        f"COMP_CWORD={len(words) - 1}",
        "COMPREPLY=()",
        "_flora_completion flora",
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=_env(),
                          stdin=stdin if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [x for x in proc.stdout.splitlines() if x]


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


@needs_bash
def test_bash_completes_the_four_types() -> None:
    assert bash_complete("flora", "runs", "start-generation", "--type", "") == TYPES


@needs_bash
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["flora", "runs", "start-generation", "--type", "vi"], ["video"]),
        (["flora", "generations", "create", "--prompt", "x", "--type", ""], TYPES),
        # a global option before the command path
        (["flora", "--json", "runs", "start-generation", "--type", "a"], ["audio"]),
        # global options given after the subcommand complete too
        (["flora", "runs", "start-generation", "--type", "image", "--format", ""], FORMATS),
        (["flora", "runs", "wait", "run_1", "--format", "js"], ["json", "jsonl"]),
        (["flora", "--format", ""], FORMATS),
        # bash splits `--type=te` at the `=` (COMP_WORDBREAKS)
        (["flora", "runs", "start-generation", "--type", "=", ""], TYPES),
        (["flora", "runs", "start-generation", "--type", "=", "te"], ["text"]),
        (["flora", "completion", ""], ["bash", "zsh", "fish"]),
        (["flora", "runs", "start-generation", "--dry"], ["--dry-run"]),
    ],
)
def test_bash_completes_values_and_options(words: list[str], expected: list[str]) -> None:
    assert bash_complete(*words) == expected


@needs_bash
def test_bash_completes_commands() -> None:
    assert {"runs", "generations", "completion"} <= set(bash_complete("flora", ""))
    assert "start-generation" in bash_complete("flora", "runs", "")


@needs_bash
def test_bash_completion_does_not_wait_for_stdin() -> None:
    # `--prompt -` on the line reads stdin when the command runs, never when it completes;
    # the terminal (here, a pipe nobody writes to) must not block the shell.
    read_end, write_end = os.pipe()
    try:
        words = ["flora", "runs", "start-generation", "--prompt", "-", "--type", ""]
        assert bash_complete(*words, stdin=read_end) == TYPES
    finally:
        os.close(read_end)
        os.close(write_end)


# --- the completion protocol itself (what every script asks flora) ------------------------------


def complete(shell: str, comp_words: str, comp_cword: str, *, stdin: int | None = None,
             preamble: str = "") -> tuple[list[str], list[str]]:
    """Ask flora as a completion script does: (answer lines, heavy modules it imported)."""
    wrapper = (
        f"{preamble}\n"
        "import sys\n"
        "try:\n"
        "    from flora_cli.cli import main\n"
        "    main()\n"
        "finally:\n"
        f"    heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "    sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    env = _env(_FLORA_COMPLETE=f"{shell}_complete", COMP_WORDS=comp_words,
               COMP_CWORD=comp_cword)
    proc = subprocess.run([sys.executable, "-c", wrapper], env=env, capture_output=True,
                          text=True, timeout=60,
                          stdin=stdin if stdin is not None else subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    heavy_line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY=")][-1]
    heavy = [x for x in heavy_line.removeprefix("HEAVY=").split(",") if x]
    return proc.stdout.splitlines(), heavy


@pytest.mark.parametrize(
    ("shell", "comp_words", "comp_cword", "expected"),
    [
        ("bash", "flora runs start-generation --type ", "4", [f"plain,{t}" for t in TYPES]),
        ("bash", "flora runs start-generation --format ", "4",
         [f"plain,{f}" for f in FORMATS]),
        ("bash", "flora ", "1", None),
        ("bash", "flora runs wait run_1 --download ", "5", ["dir,"]),
        ("bash", "flora runs start-generation --", "3", None),
        ("zsh", "flora runs start-generation --type ", "4",
         [x for t in TYPES for x in ("plain", t, "_")]),
        ("zsh", "flora runs start-generation --format=j", "3",
         ["plain", "--format=json", "_", "plain", "--format=jsonl", "_"]),
        ("fish", "flora runs start-generation --type i", "i", ["plain,image"]),
        ("fish", "flora runs start-generation --format=y", "--format=y",
         ["plain,--format=yaml"]),
    ],
)
def test_a_completion_run_imports_no_heavy_module(
    shell: str, comp_words: str, comp_cword: str, expected: list[str] | None
) -> None:
    answer, heavy = complete(shell, comp_words, comp_cword)
    if expected is not None:
        assert answer == expected
    else:
        assert answer, "no completions at all"
    assert heavy == [], f"a completion run imported {heavy}"


def test_the_import_check_sees_a_heavy_import() -> None:
    # The check above can fail: here the wrapper itself imports httpx first.
    _, heavy = complete("bash", "flora ", "1", preamble="import httpx")
    assert "httpx" in heavy


def test_a_completion_run_never_reads_stdin() -> None:
    read_end, write_end = os.pipe()
    try:
        for words in ("flora runs start-generation --prompt - --type ",
                      "flora runs start-generation --params - --type ",
                      "flora runs start-generation --prompt @/dev/stdin --type "):
            answer, _ = complete("bash", words, "6", stdin=read_end)
            assert answer == [f"plain,{t}" for t in TYPES]
    finally:
        os.close(read_end)
        os.close(write_end)


# --- fish and zsh, for real (where installed) ---------------------------------------------------


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("flora runs start-generation --type ", sorted(TYPES)),
        ("flora runs start-generation --prompt x --format=js", ["--format=json",
                                                                "--format=jsonl"]),
    ],
)
def test_fish_completes(line: str, expected: list[str]) -> None:
    script = (f"source {shlex.quote(str(COMPLETIONS / FILES['fish']))}; "
              f"complete -C {shlex.quote(line)}")
    proc = subprocess.run(["fish", "--no-config", "-c", script], env=_env(),
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert sorted(x.split("\t")[0] for x in proc.stdout.splitlines()) == sorted(expected)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_keeps_a_description_with_commas() -> None:
    script = (f"source {shlex.quote(str(COMPLETIONS / FILES['fish']))}; "
              "complete -C 'flora runs start-generation --typ'")
    proc = subprocess.run(["fish", "--no-config", "-c", script], env=_env(),
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.stdout.startswith("--type\tMedia type: image, video, audio or text"), proc.stdout


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_the_four_types_when_autoloaded() -> None:
    # A real interactive zsh on a pseudo-terminal, with _flora autoloaded from $fpath.
    with pty_shell(["zsh", "-f", "-i"], _env(TERM="dumb")) as shell:
        shell.send(f"fpath=({COMPLETIONS} $fpath); autoload -Uz compinit; compinit -u; "
                   "PS1=READY\n", b"READY", 20)
        listing = shell.send("flora runs start-generation --type \t", b"text")
        assert all(t in listing for t in TYPES), listing

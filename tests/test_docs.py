"""The generated man pages and completion scripts: current, complete, and clean roff."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

from flora_cli import __version__
from flora_cli.api.errors import EXIT_STATUS_TABLE

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_docs.py"
MAN = ROOT / "man"
REGENERATE = "python scripts/gen_docs.py"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_docs"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
NODES = list(gen.tree().values())
PAGES = sorted(MAN.glob("*.1"))


def page_of(path: tuple[str, ...]) -> str:
    return (MAN / f"{'-'.join(('flora', *path))}.1").read_text(encoding="utf-8")


def roff(text: str) -> str:
    return str(gen.esc(text))


def section(page: str, title: str) -> str:
    """The source of one section of a page (up to the next .SH)."""
    match = re.search(rf'^\.SH "?{re.escape(title)}"?\n(.*?)(?=^\.SH |\Z)', page, re.M | re.S)
    assert match, f"no {title} section"
    return match.group(1)


# --- drift ---------------------------------------------------------------------------------------


def test_committed_man_pages_and_completions_are_current(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(ROOT) for d in ("man", "completions")
                       for p in (ROOT / d).rglob("*") if p.is_file())
    stale = [str(p) for p in generated
             if not (ROOT / p).is_file()
             or (ROOT / p).read_bytes() != (tmp_path / p).read_bytes()]
    extra = [str(p) for p in committed if p not in generated]
    assert not stale and not extra, (
        f"man/ or completions/ is out of date (stale or missing: {stale}; left over: {extra}). "
        f"Run `{REGENERATE}` and commit the result."
    )


def test_check_mode_names_a_stale_file(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    ok = subprocess.run([sys.executable, str(SCRIPT), "--check", "--out", str(tmp_path)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    page = tmp_path / "man" / "flora.1"
    page.write_text(page.read_text(encoding="utf-8") + ".\\\" edited\n", encoding="utf-8")
    (tmp_path / "man" / "flora-gone.1").write_text(".TH X 1\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, str(SCRIPT), "--check", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "man/flora.1" in bad.stderr and "man/flora-gone.1" in bad.stderr
    assert REGENERATE in bad.stderr


def test_generation_is_deterministic_and_undated() -> None:
    first, second = gen.generate(), gen.generate()
    assert first == second
    for name, text in first.items():
        if name.startswith("man/"):
            th = next(x for x in text.splitlines() if x.startswith(".TH "))
            assert f'"flora\\-cli {__version__}"' in th, name
            assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), name


# --- every command, option and variable is there -------------------------------------------------


def test_one_page_per_command() -> None:
    expected = {f"{node.page}.1" for node in NODES}
    assert {p.name for p in PAGES} == expected
    assert {"flora.1", "flora-runs-start-generation.1", "flora-runs-get.1",
            "flora-runs-wait.1", "flora-generations-create.1", "flora-sandbox-serve.1",
            "flora-completion.1"} <= expected


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.page)
def test_page_sections(node: Any) -> None:
    page = page_of(node.path)
    titles = re.findall(r'^\.SH "?([A-Z ]+?)"?$', page, re.M)
    if node.is_group and node.path:
        expected = ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "SEE ALSO"]
    else:
        expected = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                    "ENVIRONMENT", "EXAMPLES", "SEE ALSO"]
    assert [t for t in titles if t in expected] == expected, titles
    name = section(page, "NAME").strip()
    assert name.startswith(f"{roff(node.page)} \\- "), name


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.page)
def test_every_option_and_its_variables_are_documented(node: Any) -> None:
    page = page_of(node.path)
    options = section(page, "OPTIONS")
    for param in node.command.get_params(node.ctx):
        if not isinstance(param, click.Option) or param.hidden:
            continue
        if node.path in gen.NO_API and gen.is_global(node, param):
            continue  # that page points to flora(1) for the global options
        for opt in param.opts:
            assert f"\\fB{roff(opt)}\\fR" in options, f"{opt} missing from {node.page}"
        envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
        for name in envvars:
            assert f"\\fB{roff(name)}\\fR" in options, f"{name} not shown with {param.opts}"
            assert f".B {roff(name)}\n" in section(page, "ENVIRONMENT"), name


def test_global_option_defaults_and_variables_come_from_their_help() -> None:
    page = page_of(("runs", "start-generation"))
    options = section(page, "OPTIONS")
    assert "Environment: \\fBFLORA_TIMEOUT\\fR. Default: 60." in options
    assert "Environment: \\fBFLORA_BASE_URL\\fR. Default:" in options
    assert "\\fB\\-\\-format\\fR \\fIFORMAT\\fR" in options
    assert "auto, json, jsonl, yaml, pretty, raw" in options.replace("\n", " ")
    assert "[env:" not in page


def test_root_page_lists_every_environment_variable() -> None:
    env = section(page_of(()), "ENVIRONMENT")
    for name in ("FLORA_API_KEY", "FLORA_BASE_URL", "FLORA_TIMEOUT", "FLORA_MAX_RETRIES",
                 "FLORA_FORMAT", "FLORA_DEBUG", "FLORA_SANDBOX", "FLORA_PROJECT_ID",
                 "FLORA_WORKSPACE_ID", "FLORA_NO_DEPRECATION_WARNING", "FLORA_SANDBOX_SPEED",
                 "NO_COLOR", "FORCE_COLOR", "HTTPS_PROXY", "SSL_CERT_FILE"):
        assert f".B {roff(name)}\n" in env, name


def test_root_page_lists_every_command() -> None:
    commands = section(page_of(()), "COMMANDS")
    for node in NODES:
        if node.path and not node.is_group:
            assert f"\\fB{roff(node.words)}\\fR" in commands, node.words


# --- EXIT STATUS is generated from the table ------------------------------------------------------


def test_exit_status_is_the_table_of_errors_py() -> None:
    exit_status = section(page_of(("runs", "start-generation")), "EXIT STATUS")
    codes = re.findall(r"^\.B (\d+)$", exit_status, re.M)
    assert codes == [str(code) for code, _ in EXIT_STATUS_TABLE]
    for _, meaning in EXIT_STATUS_TABLE:
        words = re.sub(r"\\f[BRI]", "", exit_status).replace("\n", " ")
        assert roff(meaning[1:]) in words, meaning


def test_exit_status_follows_a_change_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table = (*EXIT_STATUS_TABLE, (42, "a status added to the table"))
    monkeypatch.setattr(gen.errors, "EXIT_STATUS_TABLE", table)
    files = gen.generate()
    assert ".B 42\nA status added to the table." in files["man/flora.1"]


# --- examples -------------------------------------------------------------------------------------


def example_problems(command_line: str) -> list[str]:
    """What in an example does not exist in the tree (an unknown command or flag)."""
    problems = []
    for physical in command_line.replace("\\\n", " ").splitlines():
        try:
            tokens = shlex.split(physical, posix=True)
        except ValueError as exc:
            problems.append(f"cannot split {physical!r}: {exc}")
            continue
        segments: list[list[str]] = [[]]
        for token in tokens:
            if token in ("|", "||", "&&", ";", "&") or token.startswith(">"):
                segments.append([])
            else:
                segments[-1].append(token)
        problems += [p for seg in segments if seg[:1] == ["flora"] for p in _check(seg[1:])]
    return problems


def _check(args: list[str]) -> list[str]:
    """The first command or option of `flora ARGS...` that the tree does not have."""
    nodes = {node.path: node for node in NODES}
    path: tuple[str, ...] = ()
    command, ctx = nodes[path].command, nodes[path].ctx
    words = ["flora"]
    args = args[::-1]
    while args:
        arg = args.pop()
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            param = next((p for p in command.get_params(ctx) if isinstance(p, click.Option)
                          and name in (*p.opts, *p.secondary_opts)), None)
            if param is None:
                return [f"{' '.join(words)} has no option {name}"]
            if not (param.is_flag or param.count) and "=" not in arg and args:
                args.pop()
        elif isinstance(command, click.Group):
            sub = command.get_command(ctx, arg)
            if sub is None:
                return [f"{' '.join(words)} has no command {arg!r}"]
            path = (*path, arg)
            command, words, ctx = sub, [*words, arg], nodes[path].ctx
    return []


def test_every_example_uses_real_commands_and_flags() -> None:
    existing = {node.path for node in NODES}
    for path, examples in gen.EXAMPLES.items():
        if path not in existing:
            continue
        for _, command_line in examples:
            assert example_problems(command_line) == [], (
                f"an example of {' '.join(('flora', *path))} in flora_cli/cli/examples.py "
                f"no longer matches the CLI: {command_line!r}"
            )


def test_the_example_check_catches_a_wrong_flag() -> None:
    assert example_problems("flora runs start-generation --kind image")
    assert example_problems("flora runz get run_1")
    assert example_problems("echo x | flora --sandbox runs start-generation --type image "
                            "--prompt - | jq .") == []


# --- roff -----------------------------------------------------------------------------------------


def test_roff_escapes() -> None:
    assert gen.esc("--type") == "\\-\\-type"
    assert gen.esc("'\\@' a literal @") == "'\\e@' a literal @"
    assert gen.esc("prj_… → ok") == "prj_... \\(-> ok"  # names every device knows (C locale)
    assert gen.line(".hidden request") == "\\&.hidden request"
    assert gen.line("'-' reads stdin") == "\\&'-' reads stdin"
    assert gen.line("") == "\\&"


def test_no_source_line_starts_a_request_by_accident() -> None:
    requests = {"TH", "SH", "SS", "PP", "TP", "RS", "RE", "nf", "fi", "br", "B", "I", "SY",
                "YS", "nh", "ad", "nr"}
    for page in PAGES:
        for number, text in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            assert text.isascii(), f"{page.name}:{number}: not ASCII"
            if text.startswith(".\\\""):
                continue
            if text.startswith((".", "'")):
                name = text[1:].split(" ")[0]
                assert name in requests, f"{page.name}:{number}: {text!r}"


needs_groff = pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")


@needs_groff
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_groff_renders_without_warnings(page: Path) -> None:
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stderr == "", proc.stderr


@needs_groff
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_fit_in_80_columns(page: Path) -> None:
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-rLL=80n", "-rLT=80n", "-P-cbou",
                           str(page)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    wide = [x for x in proc.stdout.splitlines() if len(x) > 80]
    assert not wide, wide


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_mandoc_lint_is_clean(page: Path) -> None:
    proc = subprocess.run(["mandoc", "-Tlint", str(page)], capture_output=True, text=True,
                          timeout=60)
    # No date on purpose: the pages must not change from one run to the next.
    problems = [x for x in (proc.stdout + proc.stderr).splitlines()
                if x.strip() and "missing date" not in x]
    assert not problems, problems


@needs_groff
def test_start_generation_page_reads_right() -> None:
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-rLL=80n", "-P-cbou",
                           str(MAN / "flora-runs-start-generation.1")],
                          capture_output=True, text=True, timeout=60)
    text = proc.stdout
    for expected in ("flora-runs-start-generation - start a generation run",
                     "--project-id ID", "--type TYPE", "Environment: FLORA_PROJECT_ID.",
                     "Environment: FLORA_TIMEOUT. Default: 60.", "130    Interrupted (Ctrl-C).",
                     "FLORA_NO_DEPRECATION_WARNING", "flora-generations-create(1)"):
        assert expected in text, expected

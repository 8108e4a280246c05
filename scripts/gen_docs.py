#!/usr/bin/env python3
"""Regenerate the man pages (man/) and the shell completion scripts (completions/).

Both are built from the click tree, so a new command, option or environment variable shows up
after one run of:

    python scripts/gen_docs.py              # rewrite man/ and completions/ in this repo
    python scripts/gen_docs.py --out DIR    # write DIR/man/ and DIR/completions/ instead
    python scripts/gen_docs.py --check      # exit 1 and name the files that are stale

The pages are roff for man(7): one for `flora`, one per group, one per command. Everything a
page says about an option (its flags, value, help, environment variable, default, range,
choices) is read from the click parameter; EXIT STATUS comes from
`flora_cli.api.errors.EXIT_STATUS_TABLE`. The tables below hold only what the tree cannot say:
worked examples, a few environment variables read outside the options, and longer prose.
The output is deterministic: no dates, only the package version.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import click  # noqa: E402

from flora_cli import __version__  # noqa: E402
from flora_cli.api import errors  # noqa: E402
from flora_cli.cli import cli  # noqa: E402
from flora_cli.cli.completion import SHELLS, completion_script  # noqa: E402
from flora_cli.cli.examples import EXAMPLES  # noqa: E402
from flora_cli.cli.options import spec_of  # noqa: E402

PROG = "flora"
SECTION = "1"
MANUAL = "flora manual"
SOURCE = f"flora-cli {__version__}"

#: Where `flora completion SHELL` is saved in completions/.
COMPLETION_FILES = {"bash": "flora.bash", "zsh": "_flora", "fish": "flora.fish"}

Path_ = tuple[str, ...]  # a command path below the root: () is `flora`, ("runs", "get") …

# --------------------------------------------------------------------------------------------
# What the click tree cannot say
# --------------------------------------------------------------------------------------------

#: Paragraphs that replace (for the root) or follow (for a command) the docstring in
#: DESCRIPTION. Entries for commands that do not exist are ignored.
_CHECKED_FIRST = (
    "Every flag is checked before anything is sent: a bad or missing value exits with status 2 "
    "and names the flag. The request body holds exactly the fields given; --model and --params "
    "are left out, never null, when not given."
)
_SOURCES = (
    "--prompt - reads the prompt from standard input and --prompt @PATH from a file, dropping "
    "one trailing newline; a prompt that starts with a literal @ is written \\@. --params "
    "reads its JSON object the same way."
)
_ID_DEFAULTS = (
    "--project-id and --workspace-id may come from FLORA_PROJECT_ID and FLORA_WORKSPACE_ID; "
    "with --sandbox they default to the sandbox's own workspace and project."
)
DESCRIPTIONS: dict[Path_, list[str]] = {
    (): [
        "flora is a command-line client for FLORA's generation API. It starts generation "
        "runs, follows them until they complete or fail, and saves their outputs. It is made "
        "for the terminal, for shell scripts and for CI pipelines that read its JSON output.",
        "Global options may be given before the command or after it: "
        "'flora --json runs start-generation ...' and 'flora runs start-generation ... --json' "
        "are the same. An option given on the command line wins over its environment "
        "variable, which wins over the default.",
        "Standard output carries only the result document. Notices, progress, debug traces "
        "and errors go to standard error. With --format auto (the default) the result is "
        "rendered for people when standard output is a terminal, and printed as JSON "
        "otherwise: json is the API's response as received, indented; jsonl the same on one "
        "line; yaml the same as YAML; raw the response body byte for byte. --query applies a "
        "JMESPath expression to the document before it is printed, and -r prints a string "
        "result without quotes.",
        "An error is rendered in the output format too: a readable panel in pretty, and "
        "otherwise one line of JSON as the last line of standard error, such as "
        '{"error": {"code": "insufficient_credits", "message": "Insufficient credits."}, '
        '"http_status": 402, "request_id": "req_123", "idempotency_key": "...", '
        '"exit_code": 6}. The exit status says what went wrong (see EXIT STATUS).',
        "--sandbox runs any command against a faithful local FLORA API started on a free "
        "loopback port for that one command, with a built-in test key and its own workspace "
        "and project: a way to try flora with no account.",
    ],
    ("runs", "start-generation"): [
        "POST /runs/generation is deprecated upstream: each run prints one warning line on "
        "standard error that names 'flora generations create', unless --quiet is given or "
        "FLORA_NO_DEPRECATION_WARNING=1 is set.",
        _CHECKED_FIRST,
        _SOURCES,
        _ID_DEFAULTS,
    ],
    ("generations", "create"): [_CHECKED_FIRST, _SOURCES, _ID_DEFAULTS],
    ("completion",): [
        "The scripts are also in the completions/ folder of the source tree (flora.bash, "
        "_flora and flora.fish). They call flora back with _FLORA_COMPLETE, COMP_WORDS and "
        "COMP_CWORD set to ask for the candidates; such a run never starts a command.",
    ],
}

#: Environment variables read outside the options: (name, text, where). `where` is the name of
#: an option (the variable goes on every page of a command that has it) or a tuple of command
#: paths. The variables of the options themselves are read from the tree.
try:
    from flora_cli.sandbox.defaults import EMBEDDED_DEFAULT_SPEED

    _SPEED_DEFAULT = f" Default: {EMBEDDED_DEFAULT_SPEED:g}."
except ImportError:  # pragma: no cover - the sandbox package is part of flora-cli
    _SPEED_DEFAULT = ""
EXTRA_ENV: list[tuple[str, str, str | tuple[Path_, ...]]] = [
    ("FLORA_NO_DEPRECATION_WARNING",
     "Set to 1 to hide the warning that POST /runs/generation is deprecated upstream.",
     (("runs", "start-generation"),)),
    ("FLORA_CACHE_DIR",
     "Folder of the list cache (GET /models, /workspaces, /projects; 10 minutes) read by "
     "shell completion and the pre-spend check. Default: the platform's cache folder "
     "($XDG_CACHE_HOME/flora, ~/.cache/flora).",
     (("runs", "start-generation"), ("generations", "create"), ("models", "list"),
      ("models", "get"), ("workspaces", "list"), ("projects", "list"), ("completion",))),
    ("FLORA_SANDBOX_SPEED",
     "With --sandbox: how fast runs go in the embedded sandbox; a run takes its estimated "
     "time divided by this positive number." + _SPEED_DEFAULT,
     "sandbox"),
    ("FLORA_CONFIG_DIR",
     "Folder of config.toml (profiles and their settings) and credentials.toml (keys stored "
     "outside the OS keyring, mode 0600). Default: the platform's config folder "
     "($XDG_CONFIG_HOME/flora, ~/.config/flora).",
     "profile"),
    ("PYTHON_KEYRING_BACKEND",
     "The keyring package's own choice of backend (a class path), like its keyringrc.cfg; "
     "read only when a profile keeps its key in the keyring, and by auth login.",
     "profile"),
    ("FLORA_MODEL",
     "Model endpoint ID used when --model is not given (below it: the profile's model).",
     (("runs", "start-generation"), ("generations", "create"))),
    ("FLORA_POLL_INTERVAL",
     "Seconds between polls when --poll-interval is not given (below it: the profile's "
     "poll_interval, then 2).",
     (("runs", "start-generation"), ("generations", "create"), ("runs", "wait"))),
    ("FORCE_COLOR",
     "Set to use colour even when the output is not a terminal. NO_COLOR and --no-color win "
     "over it; TERM=dumb turns colour off too.",
     "no_color"),
    ("HTTPS_PROXY",
     "Proxy for the requests to the API (HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured "
     "too).",
     "base_url"),
    ("SSL_CERT_FILE",
     "CA bundle to verify the API's TLS certificate with, instead of the bundled one "
     "(SSL_CERT_DIR is honoured too). TLS is always verified.",
     "base_url"),
]

#: Texts that replace the generated one for a variable of an option.
ENV_TEXT: dict[str, str] = {
    "NO_COLOR": "Set (to any value) for no colour, as --no-color does.",
}

#: Pages to list in SEE ALSO besides the root, the parent group and the siblings.
SEE_ALSO: dict[Path_, list[Path_]] = {
    ("runs", "start-generation"): [("generations", "create"), ("runs", "wait")],
    ("generations", "create"): [("runs", "start-generation"), ("runs", "wait")],
    ("models", "list"): [("models", "get"), ("generations", "create")],
    ("models", "get"): [("models", "list"), ("generations", "create")],
    ("workspaces", "list"): [("projects", "list")],
    ("projects", "list"): [("workspaces", "list"), ("generations", "create")],
    ("auth", "login"): [("config", "list"), ("config", "set")],
    ("config", "list"): [("auth", "status")],
}

#: Arguments have no help in click < 8.5: what to say about them, by parameter name.
ARGUMENT_HELP: dict[str, str] = {
    "run_id": "The run's ID (run_…), as printed by runs start-generation.",
    "shell": "The shell to print the script for.",
    "key": "A setting: base_url, workspace_id, project_id, model, format, timeout, "
    "max_retries, poll_interval, ledger, or current_profile.",
    "value": "The new value, checked like the matching flag.",
}

#: Commands whose global options change nothing; their page points to flora(1) for them.
NO_API: set[Path_] = {("completion",)}

#: The exit statuses of a command that does not call the API (the others are the API's).
LOCAL_EXIT_CODES = (errors.EXIT_OK, errors.EXIT_UNEXPECTED, errors.EXIT_USAGE,
                    errors.EXIT_INTERRUPTED)

_HELP_TEXT = "Show the help of this command and exit."
WRAP = 78  # longest source line of filled text

# --------------------------------------------------------------------------------------------
# roff
# --------------------------------------------------------------------------------------------


#: Characters with a roff name every output device knows (`\[u2026]` has no glyph in the C
#: locale's ascii device, and `man` warns); the ellipsis is written as three dots.
_PORTABLE = {"…": "...", "—": "\\(em", "–": "\\(en", "→": "\\(->", "×": "\\(mu",
             "’": "\\(cq", "‘": "\\(oq", "“": "\\(lq", "”": "\\(rq", "≤": "\\(<=",
             "≥": "\\(>="}


def esc(text: str) -> str:
    """Escape plain text for a roff text line (not for the start of the line: see `line`)."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "".join(ch if ord(ch) < 128 else _PORTABLE.get(ch, f"\\[u{ord(ch):04X}]")
                   for ch in out)


def line(roff: str) -> str:
    """A text line: guarded so that it never starts a request (. or ') or a blank line."""
    if not roff.strip():
        return "\\&"
    return "\\&" + roff if roff[0] in ".'" else roff


def bold(text: str) -> str:
    return f"\\fB{esc(text)}\\fR"


def ital(text: str) -> str:
    return f"\\fI{esc(text)}\\fR"


def quoted(arg: str) -> str:
    """A macro argument."""
    return '"' + esc(arg).replace('"', '\\(dq') + '"'


_OPTION_RE = r"(?<![\w/.@-])--?[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![\w/])"


class Inline:
    """Prose with flags and environment variable names set in bold."""

    def __init__(self, env_names: set[str]) -> None:
        names = "|".join(sorted((re.escape(n) for n in env_names), key=len, reverse=True))
        pattern = _OPTION_RE + (rf"|(?<![\w$])(?:{names})(?![\w])" if names else "")
        self.regex = re.compile(pattern)

    def __call__(self, text: str) -> str:
        out, last = [], 0
        for match in self.regex.finditer(text):
            out.append(esc(text[last:match.start()]))
            out.append(bold(match.group(0)))
            last = match.end()
        out.append(esc(text[last:]))
        return "".join(out)


# --------------------------------------------------------------------------------------------
# Reading the click tree
# --------------------------------------------------------------------------------------------


@dataclass
class Command:
    path: Path_
    command: click.Command
    ctx: click.Context
    children: list[Command] = field(default_factory=list)

    @property
    def words(self) -> str:
        return " ".join((PROG, *self.path))

    @property
    def page(self) -> str:
        return "-".join((PROG, *self.path))

    @property
    def is_group(self) -> bool:
        return isinstance(self.command, click.Group)


def context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    """A context as click makes it, with the command's context_settings (`-h` for help).

    click caches each command's help option, built from the first context it sees: a bare
    `click.Context` here would leave `-h` out of the help option for the rest of the process.
    """
    return click.Context(command, info_name=name, parent=parent, **command.context_settings)


def walk(command: click.Command = cli, path: Path_ = (),
         parent: click.Context | None = None) -> Iterator[Command]:
    """Every visible command, depth first, subcommands in `list_commands` order."""
    ctx = context(command, path[-1] if path else PROG, parent)
    node = Command(path, command, ctx)
    yield node
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            for child in walk(sub, (*path, name), ctx):
                if child.path[:-1] == path:
                    node.children.append(child)
                yield child


@dataclass
class Block:
    kind: str  # "para" or "verbatim"
    lines: list[str]


def help_blocks(text: str | None) -> list[Block]:
    """A click help text as paragraphs (rewrapped) and `\\b` blocks (kept as they are)."""
    text = (text or "").split("\f")[0]
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        lines = chunk.splitlines()
        if not lines:
            continue
        if lines[0].strip() == "\b":
            body = lines[1:]
            indent = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
            blocks.append(Block("verbatim", [x[indent:].rstrip() for x in body]))
        else:
            blocks.append(Block("para", [" ".join(x.strip() for x in lines)]))
    return blocks


def is_examples(block: Block) -> bool:
    return block.kind == "verbatim" and bool(block.lines) and bool(
        re.fullmatch(r"Examples?:", block.lines[0].strip()))


def is_exit_status(block: Block) -> bool:
    return block.kind == "para" and block.lines[0].lower().startswith("exit status:")


def first_paragraph(cmd: click.Command) -> str:
    blocks = [b for b in help_blocks(cmd.help) if b.kind == "para"]
    text = blocks[0].lines[0] if blocks else (cmd.short_help or "")
    return re.sub(rf"^{PROG}:\s*", "", text).strip()


def first_sentence(cmd: click.Command) -> str:
    """The NAME line's description: the first paragraph, as a lower-case phrase."""
    text = first_paragraph(cmd).rstrip(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def root_param_names() -> set[str]:
    return {p.name for p in cli.params if p.name}


def is_global(node: Command, param: click.Parameter) -> bool:
    return bool(node.path) and param.name in root_param_names() and param.name != "help"


def is_help(node: Command, param: click.Parameter) -> bool:
    return param is node.command.get_help_option(node.ctx)


def talks_to_api(node: Command) -> bool:
    """The root, and every command with the global options (those reach the API)."""
    if node.path in NO_API:
        return False
    return not node.path or any(is_global(node, p) for p in node.command.params)


def visible_params(node: Command) -> list[click.Parameter]:
    return [p for p in node.command.get_params(node.ctx)
            if not getattr(p, "hidden", False)]


def metavar(param: click.Parameter, ctx: click.Context) -> str | None:
    if isinstance(param, click.Option) and (param.is_flag or param.count):
        return None
    if param.metavar:
        return param.metavar
    if isinstance(param.type, click.Choice):
        return (param.name or "value").upper()
    try:
        mv = param.make_metavar(ctx)
    except TypeError:  # click < 8.2: make_metavar() takes no context
        mv = param.make_metavar()  # type: ignore[call-arg]
    return mv.strip("[]").removesuffix("...").removesuffix(" RANGE") or None


@dataclass
class EnvInfo:
    names: list[str]
    value: str | None  # e.g. "1" for `[env: FLORA_DEBUG=1]`
    default: str | None
    note: str | None


def split_help(param: click.Parameter) -> tuple[str, EnvInfo]:
    """An option's help and its metadata, from the option's `OptionSpec` (no parsing)."""
    spec = spec_of(param)
    if spec is None:  # a plain click option: its envvar only
        envvar = param.envvar
        names = [envvar] if isinstance(envvar, str) else [str(n) for n in envvar or ()]
        return " ".join((getattr(param, "help", None) or "").split()), EnvInfo(names, None, None,
                                                                              None)
    names = [spec.env] if spec.env else []
    return " ".join(spec.help.split()), EnvInfo(names, spec.env_value, spec.shown_default, None)


def default_text(param: click.Parameter, ctx: click.Context, help_text: str) -> str | None:
    """The default worth printing: not for flags, not when the help already gives it."""
    if not isinstance(param, click.Option) or param.is_flag or param.count:
        return None
    spec = spec_of(param)
    if spec is not None:
        return spec.shown_default
    if isinstance(param.show_default, str):
        return param.show_default
    if param.show_default is False:
        return None
    value = param.default
    if value is None or type(value).__name__ == "Sentinel" or value in ((), [], ""):
        return None
    if callable(value):
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def range_text(param: click.Parameter) -> str | None:
    kind = param.type
    if not isinstance(kind, (click.IntRange, click.FloatRange)):
        return None
    low = high = None
    if kind.min is not None:
        low = f"more than {_num(kind.min)}" if kind.min_open else f"at least {_num(kind.min)}"
    if kind.max is not None:
        high = f"less than {_num(kind.max)}" if kind.max_open else f"at most {_num(kind.max)}"
    if low and high and not (kind.min_open or kind.max_open):
        return f"From {_num(kind.min)} to {_num(kind.max)}."  # type: ignore[arg-type]
    text = ", ".join(x for x in (low, high) if x)
    return _sentence(text[:1].upper() + text[1:]) if text else None


def option_flags(param: click.Parameter) -> str:
    opts = [*param.opts, *getattr(param, "secondary_opts", [])]
    return ", ".join(bold(o) for o in opts)


# --------------------------------------------------------------------------------------------
# Environment variables
# --------------------------------------------------------------------------------------------


@dataclass
class EnvDoc:
    name: str
    text: str


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


def env_of_param(param: click.Parameter, ctx: click.Context) -> list[EnvDoc]:
    help_text, info = split_help(param)
    help_text = re.sub(r"\s*\bRequired\.", "", help_text).strip()
    docs = []
    flag = max(param.opts, key=len)
    for name in info.names:
        if name in ENV_TEXT:
            text = ENV_TEXT[name]
        elif isinstance(param, click.Option) and param.is_flag:
            text = f"Set to {info.value or '1'} for {flag}: {_lower_first(_sentence(help_text))}"
        else:
            text = f"Read when {flag} is not given: {_lower_first(_sentence(help_text))}"
            default = info.default or default_text(param, ctx, help_text)
            if default:
                text += f" Default: {default}."
        if info.note:
            text = f"{text.rstrip('.')}; {info.note}."
        docs.append(EnvDoc(name, " ".join(text.split())))
    return docs


def env_docs(node: Command, everything: bool = False) -> list[EnvDoc]:
    """The variables a command reads: its options' own, then those of EXTRA_ENV that apply.

    With `everything` (the root page), those of every command, each said with the command
    it belongs to when that is not a global option.
    """
    nodes = list(walk()) if everything else [node]
    # variable -> text -> the commands it is said for ("" for every command)
    texts: dict[str, dict[str, list[str]]] = {}
    option_names: set[str] = set()
    for each in nodes:
        for param in visible_params(each):
            option_names.add(param.name or "")
            for doc in env_of_param(param, each.ctx):
                where = each.words if everything and each.path and not is_global(each, param) \
                    else ""
                said = texts.setdefault(doc.name, {}).setdefault(doc.text, [])
                if where not in said:
                    said.append(where)
    for name, text, where_ in EXTRA_ENV:
        if (where_ in option_names if isinstance(where_, str)
                else everything or node.path in where_):
            texts[name] = {text: [""], **texts.get(name, {})}
    docs = []
    for name, by_text in texts.items():
        parts = []
        for text, commands in by_text.items():
            if "" in commands:
                parts.append(text)
            else:
                parts.append(f"With {' and '.join(commands)}: {_lower_first(text)}")
        docs.append(EnvDoc(name, " ".join(parts)))
    return sorted(docs, key=lambda d: not d.name.startswith("FLORA_"))  # stable


def all_env_names() -> set[str]:
    names = {d.name for d in env_docs(next(walk()), everything=True)}
    for _, text, _ in EXTRA_ENV:
        names.update(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", text))
    return names


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------


def example_problems(command_line: str) -> list[str]:
    """What in an example does not exist in the tree (an unknown command or flag)."""
    problems = []
    joined = command_line.replace("\\\n", " ")
    for physical in joined.splitlines():
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
        for seg in segments:
            if seg[:1] == [PROG]:
                problems.extend(_check_invocation(seg[1:]))
    return problems


def _check_invocation(args: list[str]) -> list[str]:
    command: click.Command = cli
    ctx = context(cli, PROG, None)
    words = [PROG]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            param = next((p for p in command.get_params(ctx) if isinstance(p, click.Option)
                          and name in (*p.opts, *p.secondary_opts)), None)
            if param is None:
                return [f"{' '.join(words)} has no option {name}"]
            if not (param.is_flag or param.count) and "=" not in arg:
                i += 1
        elif isinstance(command, click.Group):
            sub = command.get_command(ctx, arg)
            if sub is None:
                return [f"{' '.join(words)} has no command {arg!r}"]
            command, words = sub, [*words, arg]
            ctx = context(sub, arg, ctx)
    return []


def examples_for(node: Command) -> list[tuple[str, str]]:
    """The command's worked examples (flora_cli.cli.examples) whose flags all exist."""
    chosen: list[tuple[str, str]] = []
    for what, command_line in EXAMPLES.get(node.path, []):
        problems = example_problems(command_line)
        if problems:
            print(f"gen_docs: skipped an example of {node.words!r}: {'; '.join(problems)}",
                  file=sys.stderr)
            continue
        chosen.append((what, command_line))
    return chosen


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


class Page:
    def __init__(self, node: Command, inline: Inline) -> None:
        self.node = node
        self.inline = inline
        self.out: list[str] = []

    def macro(self, name: str, *args: str) -> None:
        if name == "PP" and self.out[-1].startswith((".SH", ".SS")):
            return  # a heading starts a paragraph already
        self.out.append("." + " ".join((name, *args)))

    def text(self, roff: str) -> None:
        """Filled text, wrapped at spaces (never at an escaped one) to short source lines."""
        current = ""
        for word in re.split(r"(?<!\\) ", roff):
            if current and len(current) + 1 + len(word) > WRAP:
                self.out.append(line(current))
                current = word
            else:
                current = f"{current} {word}" if current else word
        self.out.append(line(current))

    def tag(self, roff: str) -> None:
        """The tag line of a .TP: one source line, whatever its length."""
        self.out.append(line(roff))

    def para(self, prose: str) -> None:
        self.macro("PP")
        self.text(self.inline(prose))

    def verbatim(self, lines: Sequence[str]) -> None:
        self.macro("RS", "4")
        self.macro("nf")
        for raw in lines:
            self.out.append(line(esc(raw)))
        self.macro("fi")
        self.macro("RE")

    def section(self, title: str) -> None:
        self.macro("SH", quoted(title) if " " in title else title)

    def render(self) -> str:
        node = self.node
        self.out = [
            f'.\\" {node.page}.{SECTION}: generated by scripts/gen_docs.py from the click tree.',
            '.\\" Do not edit: change the code or the script, then run it again.',
        ]
        self.macro("nr", "HY", "0")  # no hyphenation (groff's man.tmac reads HY at .TH)
        self.macro("TH", quoted(node.page.upper()), SECTION, '""', quoted(SOURCE),
                   quoted(MANUAL))
        self.macro("nh")  # and in case it does not: flags and IDs must not be split
        self.macro("ad", "l")  # ragged right: no stretched spaces around long words
        self.section("NAME")
        self.text(f"{esc(node.page)} \\- {esc(first_sentence(node.command))}")
        self.synopsis()
        self.description()
        if node.is_group:
            self.commands()
        self.arguments()
        self.options()
        if not node.is_group or not node.path:
            self.exit_status()
            self.environment()
        self.examples()
        self.see_also()
        return "\n".join(self.out) + "\n"

    # -- sections ----------------------------------------------------------------------------

    def synopsis(self) -> None:
        node = self.node
        self.section("SYNOPSIS")
        if node.is_group:
            self.macro("SY", quoted(node.words))
            self.text(f"[\\fI{'GLOBAL OPTIONS' if not node.path else 'OPTIONS'}\\fR]")
            self.text("\\fICOMMAND\\fR [\\fIARGS\\fR]...")
            self.macro("YS")
            if not node.path:
                self.macro("SY", PROG)
                self.text(bold("--version"))
                self.macro("YS")
            return
        self.macro("SY", quoted(node.words))
        for param in visible_params(node):
            if isinstance(param, click.Option) and (
                    param.required or re.search(r"\bRequired\.", param.help or "")):
                mv = metavar(param, node.ctx)
                self.text(bold(param.opts[-1]) + (f"\\ {ital(mv)}" if mv else ""))
        self.text("[\\fIOPTIONS\\fR]")
        for param in visible_params(node):
            if isinstance(param, click.Argument):
                mv = (metavar(param, node.ctx) or param.name or "ARG").upper()
                dots = "..." if param.nargs != 1 else ""
                self.text(ital(mv) + dots if param.required else f"[{ital(mv)}]{dots}")
        self.macro("YS")

    def description(self) -> None:
        node = self.node
        self.section("DESCRIPTION")
        if node.path == ():
            for prose in DESCRIPTIONS[()]:
                self.para(prose)
            return
        for block in help_blocks(node.command.help):
            if is_examples(block) or is_exit_status(block):
                continue
            if block.kind == "para":
                self.para(block.lines[0])
            else:
                self.macro("PP")
                self.verbatim(block.lines)
        for prose in DESCRIPTIONS.get(node.path, []):
            self.para(prose)
        if getattr(node.command, "deprecated", False):
            self.para("This command is deprecated.")

    def commands(self) -> None:
        node = self.node
        self.section("COMMANDS")
        nodes = list(walk(node.command, node.path, node.ctx.parent))  # children filled in
        entries = [n for n in nodes
                   if n.path != node.path and (not n.is_group or not n.children)]
        if not entries:
            self.para("This group has no commands yet.")
            return
        for entry in entries:
            self.macro("TP")
            self.tag(bold(entry.words) + "".join(
                f" {ital(metavar(p, entry.ctx) or '')}" for p in visible_params(entry)
                if isinstance(p, click.Argument)))
            self.text(self.inline(_sentence(first_paragraph(entry.command))) +
                      f" See \\fB{esc(entry.page)}\\fR({SECTION}).")

    def arguments(self) -> None:
        node = self.node
        args = [p for p in visible_params(node) if isinstance(p, click.Argument)]
        if not args:
            return
        self.section("ARGUMENTS")
        for param in args:
            self.macro("TP")
            self.tag(ital((metavar(param, node.ctx) or param.name or "").upper()))
            text = getattr(param, "help", None) or ARGUMENT_HELP.get(param.name or "", "")
            if isinstance(param.type, click.Choice):
                text += f" One of: {', '.join(str(c) for c in param.type.choices)}."
            self.text(self.inline(text.strip()))

    def options(self) -> None:
        node = self.node
        params = [p for p in visible_params(node) if isinstance(p, click.Option)]
        own = [p for p in params if not is_global(node, p)]
        glob = [p for p in params if is_global(node, p)]
        self.section("OPTIONS")
        if not node.path:
            self.para("These global options may be given before the command, or after it on "
                      "any command: the two places are the same.")
        for param in own:
            self.option(param)
        if not glob:
            return
        self.macro("SS", quoted("Global options"))
        if node.path in NO_API:
            self.para(f"The global options of {PROG}(1) are accepted here too, after the "
                      "command as before it; they change nothing in what this command does.")
            return
        self.para(f"These may also be given before the command: '{PROG} [GLOBAL OPTIONS] "
                  f"{' '.join(node.path)} ...'. See {PROG}(1).")
        for param in glob:
            self.option(param)

    def option(self, param: click.Parameter) -> None:
        node = self.node
        help_text, info = split_help(param)
        if is_help(node, param):
            help_text = _HELP_TEXT
        mv = metavar(param, node.ctx)
        self.macro("TP")
        self.tag(option_flags(param) + (f" {ital(mv)}" if mv else ""))
        notes = []
        if isinstance(param.type, click.Choice):
            choices = [str(c) for c in param.type.choices]
            if not all(c in help_text for c in choices):
                notes.append(f"One of: {', '.join(choices)}.")
        if rng := range_text(param):
            notes.append(rng)
        if getattr(param, "multiple", False) and "repeat" not in help_text.lower():
            notes.append("May be given more than once.")
        self.text(self.inline(" ".join([_sentence(help_text), *notes]).strip()))
        env = []
        if info.names:
            env.append("Environment: " + ", ".join(
                f"\\fB{esc(n)}\\fR" + (f"={esc(info.value)}" if info.value else "")
                for n in info.names) + (f" ({self.inline(info.note)})" if info.note else "")
                + ".")
        default = info.default or default_text(param, node.ctx, help_text)
        if default:
            env.append(f"Default: {esc(default)}.")
        if env:
            self.macro("br")
            self.text(" ".join(env))

    def exit_status(self) -> None:
        self.section("EXIT STATUS")
        table = errors.EXIT_STATUS_TABLE
        own = [b for b in help_blocks(self.node.command.help) if is_exit_status(b)]
        for block in own:  # the command's own "Exit status: ..." paragraph
            text = block.lines[0].split(":", 1)[1].strip()
            self.para(_sentence(text[:1].upper() + text[1:]))
        if own and not talks_to_api(self.node):
            return
        if not talks_to_api(self.node):
            table = tuple((c, m) for c, m in table if c in LOCAL_EXIT_CODES)
        for code, meaning in table:
            self.macro("TP")
            self.macro("B", str(code))
            self.text(self.inline(_sentence(meaning[:1].upper() + meaning[1:])))

    def environment(self) -> None:
        node = self.node
        self.section("ENVIRONMENT")
        if node.path in NO_API:
            self.para(f"None of its own. The global options read the variables listed in "
                      f"{PROG}(1).")
            return
        if not node.path:
            docs = env_docs(node, everything=True)
            self.para("A flag given on the command line wins over its variable. Flags that "
                      "turn something on (FLORA_DEBUG, FLORA_SANDBOX) take 1, true, yes or on.")
        else:
            docs = env_docs(node)
        if not docs:
            self.para(f"{node.words} reads no environment variables.")
        for doc in docs:
            self.macro("TP")
            self.macro("B", doc.name)
            self.text(self.inline(doc.text))

    def examples(self) -> None:
        chosen = examples_for(self.node)
        if not chosen:
            return
        self.section("EXAMPLES")
        for what, command_line in chosen:
            self.macro("PP")
            if what:
                self.text(self.inline(what))
            self.verbatim(command_line.splitlines())

    def see_also(self) -> None:
        node = self.node
        pages: list[Command] = []
        everything = {n.path: n for n in walk()}
        if not node.path:
            pages = [n for n in everything.values() if n.path]
        else:
            for i in range(len(node.path)):  # the root and every parent group
                pages.append(everything[node.path[:i]])
            pages += [everything[p] for p in SEE_ALSO.get(node.path, []) if p in everything]
            if len(node.path) > 1:  # flora(1) lists the top-level commands already
                parent = everything[node.path[:-1]]
                pages += [c for c in parent.children if c.path != node.path]
            pages += everything[node.path].children
        unique = list({p.page: p for p in pages}.values())
        self.section("SEE ALSO")
        refs = [f"\\fB{esc(p.page)}\\fR({SECTION})" for p in unique]
        self.text(", ".join(refs) + ("" if node.path else f", \\fBjq\\fR({SECTION})"))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else text + "."


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def generate() -> dict[str, str]:
    """Every generated file: its path under the output folder, and its text."""
    inline = Inline(all_env_names())
    nodes = list(walk())  # in full first: a group's children are known once walked
    files = {f"man/{node.page}.{SECTION}": Page(node, inline).render() for node in nodes}
    for shell in SHELLS:
        files[f"completions/{COMPLETION_FILES[shell]}"] = completion_script(shell)
    return files


def stale(files: dict[str, str], out: Path) -> list[str]:
    """The files under `out` that differ from `files`, are missing, or are left over."""
    bad = [name for name, text in files.items()
           if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text]
    bad += [str(p.relative_to(out)) for p in sorted((out / "man").glob(f"{PROG}*.{SECTION}"))
            if str(p.relative_to(out)) not in files]
    return sorted(bad)


def write(files: dict[str, str], out: Path) -> list[str]:
    for leftover in (out / "man").glob(f"{PROG}*.{SECTION}"):
        if str(leftover.relative_to(out)) not in files:
            leftover.unlink()
    changed = stale(files, out)
    for name, text in files.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT,
                        help="folder to write man/ and completions/ into (default: the repo)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any generated file is stale")
    args = parser.parse_args(argv)
    files = generate()
    out: Path = args.out
    if args.check:
        bad = stale(files, out)
        for name in bad:
            print(f"stale: {name}", file=sys.stderr)
        if bad:
            print("run: python scripts/gen_docs.py", file=sys.stderr)
        return 1 if bad else 0
    changed = write(files, out)
    print(f"wrote {len(files)} files to {out} ({len(changed)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

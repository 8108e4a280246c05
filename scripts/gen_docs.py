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
import functools
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
from flora_cli.sandbox.defaults import EMBEDDED_DEFAULT_SPEED  # noqa: E402

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
     "time divided by this positive number."
     f" Default: {EMBEDDED_DEFAULT_SPEED:g}.",
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
    "model_id": "A model endpoint ID (e.g. t2i-flux-2-pro), as listed by models list.",
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


@functools.cache
def _inline_regex() -> re.Pattern[str]:
    names = "|".join(sorted((re.escape(n) for n in all_env_names()), key=len, reverse=True))
    return re.compile(rf"({_OPTION_RE}|(?<![\w$])(?:{names})(?![\w]))")


def inline(text: str) -> str:
    """Prose with flags and environment variable names set in bold."""
    parts = _inline_regex().split(text)  # every odd part is a name
    return "".join(bold(part) if i % 2 else esc(part) for i, part in enumerate(parts))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else text + "."


def _upper_first(text: str) -> str:
    return _sentence(text[:1].upper() + text[1:])


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


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

    @property
    def params(self) -> list[click.Parameter]:
        return [p for p in self.command.get_params(self.ctx) if not getattr(p, "hidden", False)]

    def leaves(self) -> Iterator[Command]:
        """The commands below this group, depth first (and groups that have none)."""
        for child in self.children:
            if not child.is_group or not child.children:
                yield child
            yield from child.leaves()


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


def help_blocks(text: str | None) -> list[str | list[str]]:
    """A click help text as paragraphs (a str, rewrapped) and `\\b` blocks (lines as they are)."""
    blocks: list[str | list[str]] = []
    for chunk in re.split(r"\n\s*\n", (text or "").split("\f")[0].strip()):
        lines = chunk.splitlines()
        if lines and lines[0].strip() == "\b":
            indent = min((len(x) - len(x.lstrip()) for x in lines[1:] if x.strip()), default=0)
            blocks.append([x[indent:].rstrip() for x in lines[1:]])
        elif lines:
            blocks.append(" ".join(x.strip() for x in lines))
    return blocks


def is_exit_status(block: str | list[str]) -> bool:
    return isinstance(block, str) and block.lower().startswith("exit status:")


def first_paragraph(cmd: click.Command) -> str:
    text = next((b for b in help_blocks(cmd.help) if isinstance(b, str)), cmd.short_help or "")
    return re.sub(rf"^{PROG}:\s*", "", text).strip()


def is_global(node: Command, param: click.Parameter) -> bool:
    return bool(node.path) and param.name in {p.name for p in cli.params}


def talks_to_api(node: Command) -> bool:
    """The root, and every command with the global options (those reach the API)."""
    if node.path in NO_API:
        return False
    return not node.path or any(is_global(node, p) for p in node.command.params)


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


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def range_text(param: click.Parameter) -> str | None:
    kind = param.type
    if not isinstance(kind, (click.IntRange, click.FloatRange)):
        return None
    if kind.min is not None and kind.max is not None and not (kind.min_open or kind.max_open):
        return f"From {_num(kind.min)} to {_num(kind.max)}."
    low = high = None
    if kind.min is not None:
        low = f"more than {_num(kind.min)}" if kind.min_open else f"at least {_num(kind.min)}"
    if kind.max is not None:
        high = f"less than {_num(kind.max)}" if kind.max_open else f"at most {_num(kind.max)}"
    text = ", ".join(x for x in (low, high) if x)
    return _upper_first(text) if text else None


# --------------------------------------------------------------------------------------------
# Environment variables
# --------------------------------------------------------------------------------------------


def env_of_param(param: click.Parameter) -> tuple[str, str] | None:
    """The variable of an option (from its `OptionSpec`) and what to say about it."""
    spec = spec_of(param)
    if spec is None or spec.env is None:
        return None
    if spec.env in ENV_TEXT:
        return spec.env, ENV_TEXT[spec.env]
    flag, help_text = max(param.opts, key=len), _lower_first(_sentence(spec.help))
    if isinstance(param, click.Option) and param.is_flag:
        text = f"Set to {spec.env_value or '1'} for {flag}: {help_text}"
    else:
        text = f"Read when {flag} is not given: {help_text}"
        if spec.shown_default:
            text += f" Default: {spec.shown_default}."
    return spec.env, " ".join(text.split())


def env_docs(node: Command, everything: bool = False) -> list[tuple[str, str]]:
    """The variables a command reads: its options' own, then those of EXTRA_ENV that apply.

    With `everything` (the root page), those of every command, each said with the command
    it belongs to when that is not a global option.
    """
    # variable -> text -> the commands it is said for ("" for every command)
    texts: dict[str, dict[str, list[str]]] = {}
    option_names: set[str | None] = set()
    for each in walk() if everything else [node]:
        for param in each.params:
            option_names.add(param.name)
            if doc := env_of_param(param):
                where = each.words if everything and each.path and not is_global(each, param) \
                    else ""
                said = texts.setdefault(doc[0], {}).setdefault(doc[1], [])
                if where not in said:
                    said.append(where)
    for name, text, where_ in EXTRA_ENV:
        if (where_ in option_names if isinstance(where_, str)
                else everything or node.path in where_):
            texts[name] = {text: [""], **texts.get(name, {})}
    docs = [(name, " ".join(text if "" in commands else
                            f"With {' and '.join(commands)}: {_lower_first(text)}"
                            for text, commands in by_text.items()))
            for name, by_text in texts.items()]
    return sorted(docs, key=lambda d: not d[0].startswith("FLORA_"))  # stable


def all_env_names() -> set[str]:
    names = {name for name, _ in env_docs(next(walk()), everything=True)}
    for _, text, _ in EXTRA_ENV:
        names.update(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", text))
    return names


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------


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
        problems += [p for seg in segments if seg[:1] == [PROG] for p in _check(seg[1:])]
    return problems


def _check(args: list[str]) -> list[str]:
    """The first command or option of `flora ARGS...` that the tree does not have."""
    command: click.Command = cli
    ctx = context(cli, PROG, None)
    words = [PROG]
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
            command, words, ctx = sub, [*words, arg], context(sub, arg, ctx)
    return []


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


class Page:
    def __init__(self, node: Command, index: dict[Path_, Command]) -> None:
        self.node = node
        self.index = index  # every command by its path
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

    def para(self, prose: str) -> None:
        self.macro("PP")
        self.text(inline(prose))

    def item(self, tag: str, roff: str) -> None:
        """A .TP entry: the tag line (one source line, whatever its length), then filled text."""
        self.macro("TP")
        self.out.append(tag if tag.startswith(".") else line(tag))
        self.text(roff)

    def verbatim(self, lines: Sequence[str]) -> None:
        self.macro("RS", "4")
        self.macro("nf")
        self.out += [line(esc(raw)) for raw in lines]
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
        name = _lower_first(first_paragraph(node.command).rstrip("."))
        self.text(f"{esc(node.page)} \\- {esc(name)}")
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
        self.macro("SY", quoted(node.words))
        if node.is_group:
            self.text(f"[\\fI{'GLOBAL OPTIONS' if not node.path else 'OPTIONS'}\\fR]")
            self.text("\\fICOMMAND\\fR [\\fIARGS\\fR]...")
            if not node.path:
                self.macro("YS")
                self.macro("SY", PROG)
                self.text(bold("--version"))
        else:
            required = [spec for spec in map(spec_of, node.params)
                        if spec is not None and spec.required]
            for spec in required:
                self.text(bold(spec.flag) + (f" {ital(spec.metavar)}" if spec.metavar else ""))
            self.text("[\\fIOPTIONS\\fR]")
            for param in node.params:
                if isinstance(param, click.Argument):
                    mv = ital((metavar(param, node.ctx) or param.name or "ARG").upper())
                    dots = "..." if param.nargs != 1 else ""
                    self.text(mv + dots if param.required else f"[{mv}]{dots}")
        self.macro("YS")
        batch = next((spec for spec in map(spec_of, node.params)
                      if spec is not None and spec.dest == "from_file"), None)
        if batch is not None:  # the second form: one run per row of a file
            self.macro("SY", quoted(node.words))
            self.text(f"{bold(batch.flag)} {ital(batch.metavar or 'FILE')} [\\fIOPTIONS\\fR]")
            self.macro("YS")

    def description(self) -> None:
        node = self.node
        self.section("DESCRIPTION")
        for block in help_blocks(node.command.help) if node.path else []:
            if isinstance(block, list):
                self.macro("PP")
                self.verbatim(block)
            elif not is_exit_status(block):
                self.para(block)
        for prose in DESCRIPTIONS.get(node.path, []):
            self.para(prose)

    def commands(self) -> None:
        self.section("COMMANDS")
        for entry in self.node.leaves():
            args = "".join(f" {ital(metavar(p, entry.ctx) or '')}" for p in entry.params
                           if isinstance(p, click.Argument))
            self.item(bold(entry.words) + args,
                      inline(_sentence(first_paragraph(entry.command))) +
                      f" See \\fB{esc(entry.page)}\\fR({SECTION}).")

    def arguments(self) -> None:
        node = self.node
        args = [p for p in node.params if isinstance(p, click.Argument)]
        if args:
            self.section("ARGUMENTS")
        for param in args:
            text = getattr(param, "help", None) or ARGUMENT_HELP.get(param.name or "", "")
            if isinstance(param.type, click.Choice):
                text += f" One of: {', '.join(str(c) for c in param.type.choices)}."
            self.item(ital((metavar(param, node.ctx) or param.name or "").upper()),
                      inline(text.strip()))

    def options(self) -> None:
        node = self.node
        params = [p for p in node.params if isinstance(p, click.Option)]
        glob = [p for p in params if is_global(node, p)]
        self.section("OPTIONS")
        if not node.path:
            self.para("These global options may be given before the command, or after it on "
                      "any command: the two places are the same.")
        for param in params:
            if param not in glob:
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

    def option(self, param: click.Option) -> None:
        spec = spec_of(param)
        help_text = " ".join((spec.help if spec else param.help or "").split())
        if param is self.node.command.get_help_option(self.node.ctx):
            help_text = _HELP_TEXT
        notes = [_sentence(help_text)]
        if isinstance(param.type, click.Choice):
            choices = [str(c) for c in param.type.choices]
            if not all(c in help_text for c in choices):
                notes.append(f"One of: {', '.join(choices)}.")
        notes.append(range_text(param) or "")
        if param.multiple and "repeat" not in help_text.lower():
            notes.append("May be given more than once.")
        mv = metavar(param, self.node.ctx)
        self.item(", ".join(bold(o) for o in (*param.opts, *param.secondary_opts)) +
                  (f" {ital(mv)}" if mv else ""), inline(" ".join(n for n in notes if n).strip()))
        env = []
        if spec and spec.env:
            value = f"={esc(spec.env_value)}" if spec.env_value else ""
            env.append(f"Environment: \\fB{esc(spec.env)}\\fR{value}.")
        if spec and spec.shown_default:
            env.append(f"Default: {esc(spec.shown_default)}.")
        if env:
            self.macro("br")
            self.text(" ".join(env))

    def exit_status(self) -> None:
        self.section("EXIT STATUS")
        own = [b for b in help_blocks(self.node.command.help) if is_exit_status(b)]
        for block in own:  # the command's own "Exit status: ..." paragraph
            self.para(_upper_first(str(block).split(":", 1)[1].strip()))
        api = talks_to_api(self.node)
        if own and not api:
            return
        for code, meaning in errors.EXIT_STATUS_TABLE:
            if api or code in LOCAL_EXIT_CODES:
                self.item(f".B {code}", inline(_upper_first(meaning)))

    def environment(self) -> None:
        node = self.node
        self.section("ENVIRONMENT")
        if node.path in NO_API:
            self.para(f"None of its own. The global options read the variables listed in "
                      f"{PROG}(1).")
            return
        if not node.path:
            self.para("A flag given on the command line wins over its variable. Flags that "
                      "turn something on (FLORA_DEBUG, FLORA_SANDBOX) take 1, true, yes or on.")
        docs = env_docs(node, everything=not node.path)
        if not docs:
            self.para(f"{node.words} reads no environment variables.")
        for name, text in docs:
            self.item(f".B {name}", inline(text))

    def examples(self) -> None:
        """The command's worked examples (flora_cli.cli.examples) whose flags all exist."""
        chosen = []
        for what, command_line in EXAMPLES.get(self.node.path, []):
            if problems := example_problems(command_line):
                print(f"gen_docs: skipped an example of {self.node.words!r}: "
                      f"{'; '.join(problems)}", file=sys.stderr)
            else:
                chosen.append((what, command_line))
        if chosen:
            self.section("EXAMPLES")
        for what, command_line in chosen:
            self.macro("PP")
            if what:
                self.text(inline(what))
            self.verbatim(command_line.splitlines())

    def see_also(self) -> None:
        node, index = self.node, self.index
        if not node.path:
            pages = [n for n in index.values() if n.path]
        else:  # every parent group, the pages of SEE_ALSO, the siblings, the children
            pages = [index[node.path[:i]] for i in range(len(node.path))]
            pages += [index[p] for p in SEE_ALSO.get(node.path, []) if p in index]
            if len(node.path) > 1:  # flora(1) lists the top-level commands already
                pages += [c for c in index[node.path[:-1]].children if c is not node]
            pages += node.children
        refs = [f"\\fB{esc(page)}\\fR({SECTION})" for page in dict.fromkeys(p.page for p in pages)]
        self.section("SEE ALSO")
        self.text(", ".join(refs) + ("" if node.path else f", \\fBjq\\fR({SECTION})"))


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def generate() -> dict[str, str]:
    """Every generated file: its path under the output folder, and its text."""
    index = {node.path: node for node in walk()}  # in full first: children known once walked
    files = {f"man/{node.page}.{SECTION}": Page(node, index).render() for node in index.values()}
    for shell in SHELLS:
        files[f"completions/{COMPLETION_FILES[shell]}"] = completion_script(shell)
    return files


def leftovers(files: dict[str, str], out: Path) -> list[Path]:
    """Pages under `out` that are no longer generated (a command was removed)."""
    return [p for p in sorted((out / "man").glob(f"{PROG}*.{SECTION}"))
            if str(p.relative_to(out)) not in files]


def stale(files: dict[str, str], out: Path) -> list[str]:
    """The files under `out` that differ from `files`, are missing, or are left over."""
    bad = [name for name, text in files.items()
           if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text]
    return sorted(bad + [str(p.relative_to(out)) for p in leftovers(files, out)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT,
                        help="folder to write man/ and completions/ into (default: the repo)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any generated file is stale")
    args = parser.parse_args(argv)
    files, out = generate(), Path(args.out)
    changed = stale(files, out)
    if args.check:
        for name in changed:
            print(f"stale: {name}", file=sys.stderr)
        if changed:
            print("run: python scripts/gen_docs.py", file=sys.stderr)
        return 1 if changed else 0
    for leftover in leftovers(files, out):
        leftover.unlink()
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {len(files)} files to {out} ({len(changed)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

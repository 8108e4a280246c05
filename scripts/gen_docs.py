#!/usr/bin/env python3
"""Regenerate the man pages (man/) and the shell completion scripts (completions/).

    python scripts/gen_docs.py              # rewrite man/ and completions/ in this repo
    python scripts/gen_docs.py --out DIR    # write DIR/man/ and DIR/completions/ instead
    python scripts/gen_docs.py --check      # exit 1 and name the files that are stale

A roff page for `flora` and each group and command of the click tree: options from their
`OptionSpec`, the docstring (its part after click's \\f is for the page only), the examples of
flora_cli/cli/examples.py, EXIT STATUS from `errors.EXIT_STATUS_TABLE`; the tables below say
what the tree cannot. Completions: what `flora completion SHELL` prints. No dates anywhere.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

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
from flora_cli.optspec import OptionSpec  # noqa: E402
from flora_cli.sandbox.defaults import EMBEDDED_DEFAULT_SPEED  # noqa: E402

PROG, SECTION, SOURCE = "flora", "1", f"flora-cli {__version__}"
COMPLETION_FILES = {"bash": "flora.bash", "zsh": "_flora", "fish": "flora.fish"}
WRAP = 78  # longest source line of filled text
Path_ = tuple[str, ...]  # a command path below the root: () is `flora`, ("runs", "get") …

# -- What the click tree cannot say ----------------------------------------------------------

#: Paragraphs that follow the docstring in DESCRIPTION, for prose the two start commands share.
_START = [
    "Every flag is checked before anything is sent: a bad or missing value exits with status 2 "
    "and names the flag. The request body holds exactly the fields given; --model and --params "
    "are left out, never null, when not given.",
    "--prompt - reads the prompt from standard input and --prompt @PATH from a file, dropping "
    "one trailing newline; a prompt that starts with a literal @ is written \\@. --params "
    "reads its JSON object the same way.",
    "--project-id and --workspace-id may come from FLORA_PROJECT_ID and FLORA_WORKSPACE_ID; "
    "with --sandbox they default to the sandbox's own workspace and project.",
]
DESCRIPTIONS = {"runs start-generation": _START, "generations create": _START}

#: Environment variables read outside the options: (name, where, text). `where` lists the flags
#: (every page of a command that has one lists the variable) or the commands that read it.
EXTRA_ENV = [
    ("FLORA_NO_DEPRECATION_WARNING", "runs start-generation",
     "Set to 1 to hide the warning that POST /runs/generation is deprecated upstream."),
    ("FLORA_CACHE_DIR", "runs start-generation, generations create, models list, models get, "
     "workspaces list, projects list, completion",
     "Folder of the list cache (GET /models, /workspaces, /projects; 10 minutes) read by shell "
     "completion and the pre-spend check. Default: the platform's cache folder "
     "($XDG_CACHE_HOME/flora, ~/.cache/flora)."),
    ("FLORA_SANDBOX_SPEED", "--sandbox", "With --sandbox: how fast runs go in the embedded "
     "sandbox; a run takes its estimated time divided by this positive number. Default: "
     f"{EMBEDDED_DEFAULT_SPEED:g}."),
    ("FLORA_CONFIG_DIR", "--profile", "Folder of config.toml (profiles and their settings) and "
     "credentials.toml (keys stored outside the OS keyring, mode 0600). Default: the platform's "
     "config folder ($XDG_CONFIG_HOME/flora, ~/.config/flora)."),
    ("PYTHON_KEYRING_BACKEND", "--profile", "The keyring package's own choice of backend (a "
     "class path), like its keyringrc.cfg; read only when a profile keeps its key in the "
     "keyring, and by auth login."),
    ("FLORA_MODEL", "runs start-generation, generations create",
     "Model endpoint ID used when --model is not given (below it: the profile's model)."),
    ("FLORA_POLL_INTERVAL", "runs start-generation, generations create, runs wait",
     "Seconds between polls when --poll-interval is not given (below it: the profile's "
     "poll_interval, then 2)."),
    ("FORCE_COLOR", "--no-color", "Set to use colour even when the output is not a terminal. "
     "NO_COLOR and --no-color win over it; TERM=dumb turns colour off too."),
    ("HTTPS_PROXY", "--base-url", "Proxy for the requests to the API (HTTP_PROXY, ALL_PROXY and "
     "NO_PROXY are honoured too)."),
    ("SSL_CERT_FILE", "--base-url", "CA bundle to verify the API's TLS certificate with, instead "
     "of the bundled one (SSL_CERT_DIR is honoured too). TLS is always verified."),
]

#: Texts that replace the generated one for a variable of an option.
ENV_TEXT = {"NO_COLOR": "Set (to any value) for no colour, as --no-color does."}

#: Pages to list in SEE ALSO besides the root, the parent group and the siblings.
SEE_ALSO = {
    "runs start-generation": "generations create, runs wait",
    "generations create": "runs start-generation, runs wait",
    "models list": "models get, generations create",
    "models get": "models list, generations create",
    "workspaces list": "projects list",
    "projects list": "workspaces list, generations create",
    "auth login": "config list, config set",
    "config list": "auth status",
}

#: What to say about an argument, by parameter name (arguments have no help in click < 8.5).
ARGUMENT_HELP = {
    "run_id": "The run's ID (run_…), as printed by runs start-generation.",
    "model_id": "A model endpoint ID (e.g. t2i-flux-2-pro), as listed by models list.",
    "shell": "The shell to print the script for.",
    "key": "A setting: base_url, workspace_id, project_id, model, format, timeout, max_retries, "
    "poll_interval, ledger, or current_profile.",
    "value": "The new value, checked like the matching flag.",
}

#: Commands whose global options change nothing; their page points to flora(1) for them.
NO_API: set[Path_] = {("completion",)}
#: The exit statuses of a command that does not call the API (the others are the API's).
LOCAL_EXIT_CODES = (errors.EXIT_OK, errors.EXIT_UNEXPECTED, errors.EXIT_USAGE,
                    errors.EXIT_INTERRUPTED)

# -- roff ------------------------------------------------------------------------------------

#: Characters with a roff name every output device knows (`\[u2026]` has no glyph in the C
#: locale's ascii device, and `man` warns); the ellipsis is written as three dots.
_PORTABLE = {"…": "...", "—": "\\(em", "–": "\\(en", "→": "\\(->", "×": "\\(mu", "’": "\\(cq",
             "‘": "\\(oq", "“": "\\(lq", "”": "\\(rq", "≤": "\\(<=", "≥": "\\(>="}
_OPTION_RE = r"(?<![\w/.@-])--?[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![\w/])"


def esc(text: str) -> str:
    """Escape plain text for a roff text line (not for the start of the line: see `line`)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "".join(c if c.isascii() else _PORTABLE.get(c, f"\\[u{ord(c):04X}]") for c in text)


def line(roff: str) -> str:
    """A text line: guarded so that it never starts a request (. or ') or a blank line."""
    return "\\&" if not roff.strip() else "\\&" + roff if roff[0] in ".'" else roff


def font(text: str, face: str = "B") -> str:
    return f"\\f{face}{esc(text)}\\fR"


def quoted(arg: str) -> str:  # a macro argument
    return '"' + esc(arg).replace('"', '\\(dq') + '"'


@functools.cache
def _inline_regex() -> re.Pattern[str]:
    """Flags, and variables: the options', and those EXTRA_ENV names (upper case, with a _)."""
    names = {s.env for n in tree().values() for s in map(spec_of, n.params) if s and s.env}
    extra = " ".join(f"{name} {text}" for name, _, text in EXTRA_ENV)
    names |= set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", extra))
    names_re = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return re.compile(rf"({_OPTION_RE}|(?<![\w$])(?:{names_re})(?!\w))")


def inline(text: str) -> str:
    """Prose with flags and environment variable names set in bold."""
    parts = _inline_regex().split(text)  # every odd part is a name
    return "".join(font(part) if i % 2 else esc(part) for i, part in enumerate(parts))


def fill(roff: str) -> list[str]:
    """Filled text as source lines of at most WRAP (or one word), broken at spaces."""
    lines = textwrap.wrap(roff, WRAP, break_long_words=False, break_on_hyphens=False)
    return [line(x) for x in lines or [""]]


def para(prose: str) -> list[str]:
    return [".PP", *fill(inline(prose))]


def item(tag: str, roff: str) -> list[str]:
    """A .TP entry: the tag line (one source line, whatever its length), then filled text."""
    return [".TP", tag if tag.startswith(".") else line(tag), *fill(roff)]


def verbatim(lines: Sequence[str]) -> list[str]:
    return [".RS 4", ".nf", *(line(esc(x)) for x in lines), ".fi", ".RE"]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else text + "."


def _upper_first(text: str) -> str:
    return _sentence(text[:1].upper() + text[1:])


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


# -- Reading the click tree ------------------------------------------------------------------


def walk(command: click.Command = cli, path: Path_ = (),
         parent: click.Context | None = None) -> dict[Path_, Command]:
    """Every visible command by its path, depth first, each with a context made as click makes
    it (click caches a command's help option from the first context it sees: a bare
    `click.Context` would leave out the `-h` of its context_settings for the whole process)."""
    ctx = click.Context(command, info_name=path[-1] if path else PROG, parent=parent,
                        **command.context_settings)
    nodes = {path: Command(path, command, ctx)}
    for name in command.list_commands(ctx) if isinstance(command, click.Group) else []:
        sub = cast(click.Group, command).get_command(ctx, name)
        if sub is not None and not sub.hidden:
            nodes |= walk(sub, (*path, name), ctx)
    return nodes


tree = functools.cache(walk)  # the whole tree, walked once


def help_blocks(text: str | None) -> list[str | list[str]]:
    """A help text (and its part after \\f) as paragraphs and `\\b` blocks (lists of lines)."""
    blocks: list[str | list[str]] = []
    for lines in (c.splitlines() for c in re.split(r"\s*\f\s*|\n\s*\n", (text or "").strip())):
        if lines and lines[0].strip() == "\b":
            indent = min((len(x) - len(x.lstrip()) for x in lines[1:] if x.strip()), default=0)
            blocks.append([x[indent:].rstrip() for x in lines[1:]])
        elif lines:
            blocks.append(" ".join(x.strip() for x in lines))
    return blocks


def first_paragraph(cmd: click.Command) -> str:
    text = next((b for b in help_blocks(cmd.help) if isinstance(b, str)), cmd.short_help or "")
    return re.sub(rf"^{PROG}:\s*", "", text).strip()


def is_global(node: Command, param: click.Parameter) -> bool:
    return bool(node.path) and param.name in {p.name for p in cli.params}


def metavar(param: click.Parameter, ctx: click.Context) -> str:
    if isinstance(param, click.Option) and (param.is_flag or param.count):
        return ""
    if param.metavar or isinstance(param.type, click.Choice):
        return param.metavar or (param.name or "value").upper()
    try:
        mv = param.make_metavar(ctx)
    except TypeError:  # click < 8.2: make_metavar() takes no context
        mv = param.make_metavar()  # type: ignore[call-arg]
    return mv.strip("[]").removesuffix("...").removesuffix(" RANGE")


def range_text(param: click.Parameter) -> str:
    kind = param.type
    if not isinstance(kind, (click.IntRange, click.FloatRange)):
        return ""
    if kind.min is not None and kind.max is not None and not (kind.min_open or kind.max_open):
        return f"From {kind.min:.12g} to {kind.max:.12g}."
    bounds = [(kind.min, "more than" if kind.min_open else "at least"),
              (kind.max, "less than" if kind.max_open else "at most")]
    return _upper_first(", ".join(f"{word} {v:.12g}" for v, word in bounds if v is not None))


def env_text(param: click.Parameter, spec: OptionSpec) -> str:
    """What ENVIRONMENT says about the variable of an option."""
    if spec.env in ENV_TEXT:
        return ENV_TEXT[spec.env]
    flag, help_text = max(param.opts, key=len), _lower_first(_sentence(spec.help))
    if isinstance(param, click.Option) and param.is_flag:
        return f"Set to {spec.env_value or '1'} for {flag}: {help_text}"
    default = f" Default: {spec.shown_default}." if spec.shown_default else ""
    return f"Read when {flag} is not given: {help_text}{default}"


# -- Pages -----------------------------------------------------------------------------------

SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ARGUMENTS", "OPTIONS", "EXIT STATUS",
            "ENVIRONMENT", "EXAMPLES", "SEE ALSO")
GROUP_SECTIONS = tuple(s for s in SECTIONS if s not in ("EXIT STATUS", "ENVIRONMENT"))


@dataclass
class Command:
    """A command of the tree and its page: each section is made by the method of its name,
    and a section with nothing to say is left out."""

    path: Path_
    command: click.Command
    ctx: click.Context

    def __post_init__(self) -> None:
        self.words, self.page = " ".join((PROG, *self.path)), "-".join((PROG, *self.path))
        self.is_group = isinstance(self.command, click.Group)
        self.params = [p for p in self.command.get_params(self.ctx)
                       if not getattr(p, "hidden", False)]

    def below(self) -> list[Command]:
        """The commands under this one, depth first."""
        return [n for n in tree().values() if n.path[:len(self.path)] == self.path != n.path]

    def render(self) -> str:
        out = [
            f'.\\" {self.page}.{SECTION}: generated by scripts/gen_docs.py from the click tree.',
            '.\\" Do not edit: change the code or the script, then run it again.',
            ".nr HY 0",  # no hyphenation (groff's man.tmac reads HY at .TH)
            f'.TH {quoted(self.page.upper())} {SECTION} "" {quoted(SOURCE)} "flora manual"',
            ".nh",  # and in case it does not: flags and IDs must not be split
            ".ad l",  # ragged right: no stretched spaces around long words
        ]
        for title in GROUP_SECTIONS if self.is_group and self.path else SECTIONS:
            if body := getattr(self, title.lower().replace(" ", "_"))():
                out += [f".SH {quoted(title) if ' ' in title else title}", *body]
        # A heading starts a paragraph already: no .PP right after one.
        return re.sub(r"^(\.S[HS] .*\n)\.PP\n", r"\1", "\n".join(out) + "\n", flags=re.M)

    def name(self) -> list[str]:
        name = _lower_first(first_paragraph(self.command).rstrip("."))
        return fill(f"{esc(self.page)} \\- {esc(name)}")

    def synopsis(self) -> list[str]:
        specs = [spec for spec in map(spec_of, self.params) if spec is not None]
        words = [f"[\\fI{'OPTIONS' if self.path else 'GLOBAL OPTIONS'}\\fR]",
                 "\\fICOMMAND\\fR [\\fIARGS\\fR]..."]
        if not self.is_group:  # the required flags, the options, the arguments
            words = [font(spec.flag) + (f" {font(spec.metavar, 'I')}" if spec.metavar else "")
                     for spec in specs if spec.required] + ["[\\fIOPTIONS\\fR]"]
            for p in self.params:
                if isinstance(p, click.Argument):  # [NAME] when optional, NAME... when repeated
                    mv = font(metavar(p, self.ctx).upper(), "I")
                    words.append((mv if p.required else f"[{mv}]") + "..." * (p.nargs != 1))
        forms = [(quoted(self.words), words)] + ([] if self.path else [(PROG, [font("--version")])])
        forms += [(quoted(self.words), [f"{font(spec.flag)} {font(spec.metavar or 'FILE', 'I')}"
                                        " [\\fIOPTIONS\\fR]"])  # one run per row of a file
                  for spec in specs if spec.dest == "from_file"]
        return [x for head, words in forms
                for x in (f".SY {head}", *(y for word in words for y in fill(word)), ".YS")]

    def description(self) -> list[str]:
        # The root's page has its own text: the part after the \f.
        text = self.command.help if self.path else (self.command.help or "").partition("\f")[2]
        out: list[str] = []
        for block in help_blocks(text):
            if isinstance(block, list):
                out += [".PP", *verbatim(block)]
            elif not block.lower().startswith("exit status:"):  # said in EXIT STATUS
                out += para(block)
        return out + [x for prose in DESCRIPTIONS.get(" ".join(self.path), []) for x in para(prose)]

    def commands(self) -> list[str]:
        out = []  # every command below, and the groups with none
        for each in (n for n in self.below() if not n.below()):
            args = "".join(f" {font(metavar(p, each.ctx), 'I')}" for p in each.params
                           if isinstance(p, click.Argument))
            out += item(font(each.words) + args, inline(_sentence(first_paragraph(each.command)))
                        + f" See \\fB{esc(each.page)}\\fR({SECTION}).")
        return out

    def arguments(self) -> list[str]:
        out = []
        for param in self.params:
            if isinstance(param, click.Argument):
                text = getattr(param, "help", None) or ARGUMENT_HELP.get(param.name or "", "")
                if isinstance(param.type, click.Choice):
                    text += f" One of: {', '.join(map(str, param.type.choices))}."
                out += item(font(metavar(param, self.ctx).upper(), "I"), inline(text.strip()))
        return out

    def options(self) -> list[str]:
        params = [p for p in self.params if isinstance(p, click.Option)]
        glob = [p for p in params if is_global(self, p)]
        out = [] if self.path else para("These global options may be given before the command, "
                                        "or after it on any command: the two places are the same.")
        out += [x for p in params if p not in glob for x in self.option(p)]
        if glob:  # the page of a command in NO_API points to flora(1) for them
            out += ['.SS "Global options"', *para(
                f"The global options of {PROG}(1) are accepted here too, after the command as "
                "before it; they change nothing in what this command does." if self.path in NO_API
                else f"These may also be given before the command: '{PROG} [GLOBAL OPTIONS] "
                f"{' '.join(self.path)} ...'. See {PROG}(1).")]
        return out + [x for p in glob if self.path not in NO_API for x in self.option(p)]

    def option(self, param: click.Option) -> list[str]:
        spec = spec_of(param)
        help_text = " ".join((spec.help if spec else param.help or "").split())
        if param is self.command.get_help_option(self.ctx):
            help_text = "Show the help of this command and exit."
        choices = [str(c) for c in getattr(param.type, "choices", ())]
        notes = [_sentence(help_text),
                 "" if all(c in help_text for c in choices) else f"One of: {', '.join(choices)}.",
                 range_text(param),
                 "May be given more than once." if param.multiple and "repeat" not in
                 help_text.lower() else ""]
        mv = metavar(param, self.ctx)
        out = item(", ".join(map(font, (*param.opts, *param.secondary_opts))) +
                   (f" {font(mv, 'I')}" if mv else ""), inline(" ".join(n for n in notes if n)))
        if spec and (spec.env or spec.shown_default):
            value = f"={esc(spec.env_value)}" if spec.env_value else ""
            env = [f"Environment: \\fB{esc(spec.env)}\\fR{value}." if spec.env else "",
                   f"Default: {esc(spec.shown_default)}." if spec.shown_default else ""]
            out += [".br", *fill(" ".join(x for x in env if x))]
        return out

    def exit_status(self) -> list[str]:
        """The command's own "Exit status: ..." paragraph, then the table of errors.py: all of
        it, as every command takes the global options, but for those of NO_API."""
        out = [x for b in help_blocks(self.command.help)
               if isinstance(b, str) and b.lower().startswith("exit status:")
               for x in para(_upper_first(b.split(":", 1)[1]))]
        for code, meaning in errors.EXIT_STATUS_TABLE:
            if self.path not in NO_API or code in LOCAL_EXIT_CODES:
                out += item(f".B {code}", inline(_upper_first(meaning)))
        return out

    def environment(self) -> list[str]:
        if self.path in NO_API:
            return para(f"None of its own. The global options read the variables listed in "
                        f"{PROG}(1).")
        out = [] if self.path else para(
            "A flag given on the command line wins over its variable. Flags that turn something "
            "on (FLORA_DEBUG, FLORA_SANDBOX) take 1, true, yes or on.")
        return out + [x for name, text in self.env_docs() for x in item(f".B {name}", inline(text))]

    def env_docs(self) -> list[tuple[str, str]]:
        """The variables a command reads: its options', then those of EXTRA_ENV that apply. The
        root's: every command's, said with the command when that is not a global option."""
        texts: dict[str, dict[str, list[str]]] = {}  # variable -> text -> commands ("": all)
        names = {" ".join(self.path)}  # the command and its flags, for EXTRA_ENV's `where`
        for each in [self] if self.path else tree().values():
            for param in each.params:
                names.update(param.opts)
                if (spec := spec_of(param)) and spec.env:
                    where = each.words if each is not self and not is_global(each, param) else ""
                    said = texts.setdefault(spec.env, {}).setdefault(env_text(param, spec), [])
                    said += [] if where in said else [where]
        for name, where, text in EXTRA_ENV:
            if not self.path or names & set(where.split(", ")):
                texts[name] = {text: [""], **texts.get(name, {})}
        docs = [(name, " ".join(text if "" in commands else
                                f"With {' and '.join(commands)}: {_lower_first(text)}"
                                for text, commands in by_text.items()))
                for name, by_text in texts.items()]
        return sorted(docs, key=lambda doc: not doc[0].startswith("FLORA_"))  # stable

    def examples(self) -> list[str]:
        """The command's worked examples (flora_cli/cli/examples.py), as --help shows them."""
        return [x for what, command_line in EXAMPLES.get(self.path, [])
                for x in (".PP", *(fill(inline(what)) if what else []),
                          *verbatim(command_line.splitlines()))]

    def see_also(self) -> list[str]:
        """flora(1)'s: every page. Others: the parent groups, the pages of SEE_ALSO, the
        siblings (but for the top-level commands, which flora(1) lists), the children."""
        pages, nodes, depth = tree()[()].below(), tree(), len(self.path)
        if self.path:
            more = (tuple(m.split()) for m in SEE_ALSO.get(" ".join(self.path), "").split(", "))
            pages = [nodes[self.path[:i]] for i in range(depth)]
            pages += [nodes[p] for p in more if p in nodes]
            pages += [n for n in nodes[self.path[:-1]].below() if depth > 1 and n is not self
                      and len(n.path) == depth]
            pages += [n for n in self.below() if len(n.path) == depth + 1]
        refs = [f"\\fB{esc(page)}\\fR({SECTION})" for page in dict.fromkeys(p.page for p in pages)]
        return fill(", ".join(refs) + ("" if self.path else f", \\fBjq\\fR({SECTION})"))


# -- Output ----------------------------------------------------------------------------------


def generate() -> dict[str, str]:
    """Every generated file: its path under the output folder, and its text."""
    files = {f"man/{node.page}.{SECTION}": node.render() for node in tree().values()}
    return files | {f"completions/{COMPLETION_FILES[shell]}": completion_script(shell)
                    for shell in SHELLS}


def stale(files: dict[str, str], out: Path) -> list[str]:
    """The files under `out` that differ from `files`, are missing, or are left over."""
    pages = {str(p.relative_to(out)) for p in (out / "man").glob(f"{PROG}*.{SECTION}")}
    return sorted(pages - set(files) | {name for name, text in files.items() if not (
        out / name).is_file() or (out / name).read_text(encoding="utf-8") != text})


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
    for name in set(changed) - set(files):
        (out / name).unlink()
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {len(files)} files to {out} ({len(changed)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

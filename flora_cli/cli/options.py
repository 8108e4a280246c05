"""Global options (SPEC §2), accepted before the command path and on every leaf command.

Each option stores its value in the root context only when it was given on the command line,
so `flora --json runs start-generation …` and `flora runs start-generation … --json` are the
same, and a leaf flag overrides a root one. The environment and defaults are applied later, in
`settings.resolve`, so the precedence is flag > environment > default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from flora_cli.settings import FORMATS

F = TypeVar("F", bound=Callable[..., Any])
_META_KEY = "flora.global_flags"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if param.name and ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE:
        ctx.find_root().meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def given_flags(ctx: click.Context) -> dict[str, Any]:
    """The global flags given on the command line, in either position."""
    return dict(ctx.find_root().meta.get(_META_KEY, {}))


def _opt(*decls: str, help: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*decls, help=help, callback=_store, expose_value=False,
                        is_eager=False, **kwargs)


GLOBAL_OPTIONS: tuple[Callable[[F], F], ...] = (
    _opt("--api-key", metavar="KEY", help="API key (sk_live_…, sk_test_…). "
         "[env: FLORA_API_KEY]"),
    _opt("--base-url", metavar="URL", help="API root; https://, or http:// to loopback only. "
         "[env: FLORA_BASE_URL; default: https://app.flora.ai/api/v1]"),
    _opt("--timeout", metavar="SECONDS", type=float,
         help="Timeout of each attempt. [env: FLORA_TIMEOUT; default: 60]"),
    _opt("--max-retries", metavar="N", type=click.IntRange(min=0),
         help="Retries after the first attempt. [env: FLORA_MAX_RETRIES; default: 2]"),
    _opt("--format", type=click.Choice(FORMATS, case_sensitive=False),
         help="Output format; auto is pretty on a terminal, else json. "
         "[env: FLORA_FORMAT; default: auto]"),
    _opt("--json", is_flag=True, default=None, help="Same as --format json."),
    _opt("--query", metavar="EXPR", help="JMESPath expression applied to the result."),
    _opt("-r", "--raw-output", is_flag=True, default=None,
         help="Print a string result without quotes (like jq -r)."),
    _opt("--debug", is_flag=True, default=None,
         help="HTTP trace on stderr, secrets redacted. [env: FLORA_DEBUG=1]"),
    _opt("-q", "--quiet", is_flag=True, default=None,
         help="No notices or progress on stderr (errors still print)."),
    _opt("--no-color", is_flag=True, default=None,
         help="No colour. [env: NO_COLOR; FORCE_COLOR and TERM=dumb are honoured too]"),
    _opt("--sandbox", is_flag=True, default=None,
         help="Run against an embedded sandbox API on loopback. [env: FLORA_SANDBOX=1]"),
)


def global_options(f: F) -> F:
    for option in reversed(GLOBAL_OPTIONS):
        f = option(f)
    return f

"""Printing the result document to stdout in the resolved format.

Machine formats are JSON text (`textsafe.dumps`) or YAML with no markup; `json` on a terminal
is syntax-highlighted, plain in a pipe. Only `pretty` and a highlighted `json` load rich.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flora_cli.api.errors import FloraError, UsageError
from flora_cli.settings import Settings
from flora_cli.textsafe import clean_line, dumps

if TYPE_CHECKING:
    from rich.console import Console

PrettyRenderer = Callable[["Console", Any], None]


class QueryError(FloraError):
    """--query compiled but failed on this document (`abs(run_id)` on a string). When the
    command started a run, the error carries its id: the run is not hidden."""

    exit_code = 1
    default_code = "query_failed"


def apply_query(doc: Any, expression: str | None) -> Any:
    if not expression:
        return doc
    import jmespath
    from jmespath.exceptions import JMESPathError, ParseError

    try:
        return jmespath.search(expression, doc)
    except ParseError as exc:  # checked before anything is sent; kept for direct callers
        raise UsageError(f"--query is not a valid JMESPath expression: {exc}") from None
    except JMESPathError as exc:
        raise QueryError(f"--query failed on the result: {exc}") from None


def format_document(doc: Any, fmt: str) -> str:
    """Text of a document in a machine format (json, jsonl, yaml)."""
    if fmt == "jsonl":
        return dumps(doc, compact=True) + "\n"
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return dumps(doc) + "\n"


def _raw_lines(result: Any) -> list[str] | None:
    """-r: a string bare; an array of strings (and numbers) one item per line, like
    `jq -r '.[]'`. None when the result is something else (printed as JSON)."""
    if isinstance(result, str):
        return [result]
    if isinstance(result, list) and all(
        isinstance(item, (str, int, float)) and not isinstance(item, bool) for item in result
    ):
        return [item if isinstance(item, str) else dumps(item) for item in result]
    return None


def emit_lines(lines: list[str]) -> None:
    """Plain lines to stdout (--text, -r): control characters made visible on a terminal."""
    out = sys.stdout
    tty = out.isatty()
    for item in lines:
        out.write((clean_line(item) if tty else item) + "\n")
    out.flush()


def _highlight(settings: Settings) -> bool:
    if settings.no_color or not sys.stdout.isatty():
        return False
    import os

    return not os.environ.get("NO_COLOR") and os.environ.get("TERM", "") != "dumb"


def emit(
    doc: Any,
    settings: Settings,
    *,
    raw: bytes | None = None,
    pretty: PrettyRenderer | None = None,
) -> None:
    """Write the result to stdout: the only thing any command writes there."""
    queried = settings.query is not None
    result = apply_query(doc, settings.query)
    out = sys.stdout
    lines = _raw_lines(result) if settings.raw_output else None
    if lines is not None:
        emit_lines(lines)
        return
    if settings.format == "raw":
        if raw is not None and not queried:
            out.flush()
            out.buffer.write(raw)
        else:
            out.write(format_document(result, "jsonl"))
    elif settings.format == "pretty" or (settings.format == "json" and _highlight(settings)):
        from flora_cli.output.console import stdout_console

        console = stdout_console(settings)
        if settings.format == "pretty" and pretty is not None and not queried:
            pretty(console, result)
        else:
            from rich.json import JSON

            console.print(JSON(dumps(result)), soft_wrap=True)
    else:
        out.write(format_document(result, settings.format))
    out.flush()


def write_lines(items: Any, settings: Settings) -> None:
    """jsonl for list commands: one item per line, flushed so a pipe sees each as it comes.
    With -r, a string item is printed bare."""
    from flora_cli.textsafe import dumps

    out = sys.stdout
    for item in items:
        if settings.raw_output and isinstance(item, str):
            out.write(item + "\n")
        else:
            out.write(dumps(item, compact=True) + "\n")
    out.flush()

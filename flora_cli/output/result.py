"""Printing the result document to stdout in the resolved format (SPEC §4).

Machine formats are plain `json.dumps`/PyYAML with no markup; only `pretty` loads rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flora_cli.api.errors import UsageError
from flora_cli.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

PrettyRenderer = Callable[["Console", Any], None]


def apply_query(doc: Any, expression: str | None) -> Any:
    if not expression:
        return doc
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(expression, doc)
    except JMESPathError as exc:
        raise UsageError(f"--query is not a valid JMESPath expression: {exc}") from None


def format_document(doc: Any, fmt: str) -> str:
    """Text of a document in a machine format (json, jsonl, yaml)."""
    if fmt == "jsonl":
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


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
    if settings.raw_output and isinstance(result, str):
        out.write(result + "\n")
    elif settings.format == "raw":
        if raw is not None and not queried:
            out.flush()
            out.buffer.write(raw)
        else:
            out.write(format_document(result, "jsonl"))
    elif settings.format == "pretty":
        from flora_cli.output.console import stdout_console

        console = stdout_console(settings)
        if pretty is not None and not queried:
            pretty(console, result)
        else:
            from rich.json import JSON

            console.print(JSON.from_data(result, ensure_ascii=False))
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

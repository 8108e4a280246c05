"""Rendering an error on stderr (SPEC §5): a rich panel for people, else a JSON last line."""

from __future__ import annotations

import json
import sys
from typing import Any

from flora_cli.api.errors import FloraError
from flora_cli.redact import scrub
from flora_cli.settings import Settings


def _scrubbed(value: Any, secret: str | None) -> Any:
    if isinstance(value, str):
        return scrub(value, secret)
    if isinstance(value, dict):
        return {k: _scrubbed(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secret) for v in value]
    return value


def render_error(err: FloraError, fmt: str, settings: Settings | None) -> None:
    secret = settings.api_key if settings else None
    if fmt == "pretty":
        _render_panel(err, settings, secret)
        return
    stderr = sys.stderr
    stderr.write(scrub(f"error: {err.message}", secret) + "\n")
    if err.hint:
        stderr.write(scrub(f"hint: {err.hint}", secret) + "\n")
    doc = _scrubbed(err.to_document(), secret)
    stderr.write(json.dumps(doc, ensure_ascii=False) + "\n")
    stderr.flush()


def _render_panel(err: FloraError, settings: Settings | None, secret: str | None) -> None:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from flora_cli.output.console import stderr_console

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="key", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("code", escape(err.code))
    grid.add_row("message", escape(scrub(err.message, secret)))
    fields = err.error.get("fields")
    if isinstance(fields, list):
        for item in fields:
            if isinstance(item, dict):
                name = escape(str(item.get("field", "?")))
                grid.add_row("field", f"[bold]{name}[/]: {escape(str(item.get('message', '')))}")
    if err.http_status is not None:
        grid.add_row("http status", str(err.http_status))
    if err.request_id:
        grid.add_row("request id", escape(err.request_id))
    if err.run_id:
        grid.add_row("run id", escape(err.run_id))
    if err.idempotency_key:
        grid.add_row("idempotency key", escape(err.idempotency_key))
    grid.add_row("exit code", str(err.exit_code))
    if err.hint:
        grid.add_row("hint", f"[hint]{escape(scrub(err.hint, secret))}[/]")
    stderr_console(settings).print(
        Panel(grid, title=f"[code]Error[/]: {escape(err.code)}", title_align="left",
              border_style="red", expand=False)
    )

"""Rendering an error on stderr: a rich panel for people, else `error:`/`hint:` lines and a
JSON last line. Every error — a usage error from click, an API error, a failed run — looks the
same way in a given format."""

from __future__ import annotations

import sys
from typing import Any

from flora_cli.api.errors import FloraError
from flora_cli.redact import scrub
from flora_cli.settings import Settings
from flora_cli.textsafe import clean, clean_line, dumps


def _scrubbed(value: Any, secret: str | None) -> Any:
    if isinstance(value, str):
        return scrub(value, secret)
    if isinstance(value, dict):
        return {k: _scrubbed(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secret) for v in value]
    return value


def error_document(err: FloraError, *, run_id: str | None = None,
                   idempotency_key: str | None = None) -> dict[str, Any]:
    """The one-line JSON error, with the run id and idempotency key the command knows filled
    in where the error itself did not carry them."""
    doc = err.to_document()
    if doc.get("idempotency_key") is None and idempotency_key is not None:
        doc["idempotency_key"] = idempotency_key
    if doc.get("run_id") is None and run_id is not None:
        doc["run_id"] = run_id
    return doc


def render_error(err: FloraError, fmt: str, settings: Settings | None, *,
                 hint: str | None = None, run_id: str | None = None,
                 idempotency_key: str | None = None) -> None:
    secret = settings.api_key if settings else None
    doc = _scrubbed(error_document(err, run_id=run_id, idempotency_key=idempotency_key), secret)
    if fmt == "pretty":
        _render_panel(err, doc, settings, secret, hint)
        return
    stderr = sys.stderr
    stderr.write(clean(scrub(f"error: {err.message}", secret)) + "\n")
    if hint:
        stderr.write(clean(scrub(f"hint: {hint}", secret)) + "\n")
    stderr.write(dumps(doc, compact=True) + "\n")
    stderr.flush()


def _render_panel(err: FloraError, doc: dict[str, Any], settings: Settings | None,
                  secret: str | None, hint: str | None) -> None:
    from rich.markup import escape

    from flora_cli.output.console import stderr_console
    from flora_cli.output.panels import Rows, show

    def text(value: Any) -> str:
        return escape(clean(scrub(str(value), secret)))

    rows = Rows()
    rows.add("code", text(err.code))
    rows.add("message", text(err.message))
    fields = err.error.get("fields")
    if isinstance(fields, list):
        for item in fields:
            if isinstance(item, dict):
                name = text(clean_line(str(item.get("field", "?"))))
                rows.add("field", f"[bold]{name}[/]: {text(item.get('message', ''))}")
    if doc.get("http_status") is not None:
        rows.add("http status", str(doc["http_status"]))
    for key, label in (("request_id", "request id"), ("run_id", "run id"),
                       ("idempotency_key", "idempotency key")):
        if doc.get(key):
            rows.add(label, text(clean_line(str(doc[key]))))
    rows.add("exit code", str(err.exit_code))
    if hint:
        rows.add("hint", f"[hint]{text(hint)}[/]")
    show(stderr_console(settings), rows, title=f"[code]Error[/]: {text(err.code)}",
         style="red")

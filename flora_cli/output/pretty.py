"""`pretty` renderings of API documents for people (rich is imported inside each function)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _seconds(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"about {value:g} s"
    return "unknown"


def _cost(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = f"{value:,.4f}".rstrip("0")  # at most 4 decimals, at least 2
        whole, _, decimals = text.partition(".")
        return f"${whole}.{decimals.ljust(2, '0')}"
    return "—"


def render_run_created(console: Console, doc: Any) -> None:
    """A started run: id, type, model, estimated time, cost, poll URL, and what to run next."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    if not isinstance(doc, dict):  # pragma: no cover - callers validate the shape
        console.print(escape(repr(doc)))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="key", no_wrap=True)
    grid.add_column(overflow="fold")
    run_id = str(doc.get("run_id"))
    model = doc.get("model")
    model_id = model.get("model_id") if isinstance(model, dict) else None
    grid.add_row("run id", f"[bold]{escape(run_id)}[/]")
    grid.add_row("type", escape(str(doc.get("type", "—"))))
    grid.add_row("model", escape(str(model_id or "workspace default")))
    grid.add_row("estimated", _seconds(doc.get("estimated_seconds")))
    grid.add_row("cost", _cost(doc.get("charged_cost")))
    if doc.get("project_id"):
        grid.add_row("project", escape(str(doc["project_id"])))
    if doc.get("poll_url"):
        grid.add_row("poll url", escape(str(doc["poll_url"])))
    grid.add_row("next", f"[ok]flora runs wait {escape(run_id)}[/]")
    console.print(Panel(grid, title="[ok]Run started[/]", title_align="left",
                        border_style="green", expand=False))


_STATUS_STYLE = {"pending": "yellow", "running": "cyan", "completed": "green", "failed": "red"}
_TEXT_PREVIEW = 200


def _when(value: Any) -> str | None:
    """A timestamp of the API (seconds or milliseconds since the epoch; the unit is not
    stated), shown as local time; None when it is not a number."""
    import datetime as dt

    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        return None
    seconds = value / 1000 if value > 1e11 else value
    try:
        return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return None


def _percent(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g} %"
    return "—"


def render_run(console: Console, doc: Any) -> None:
    """A run (GET /runs/{run_id}, `runs wait`): status, progress, outputs, cost, error and
    the files saved by --download."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    if not isinstance(doc, dict):  # pragma: no cover - callers validate the shape
        console.print(escape(repr(doc)))
        return
    status = str(doc.get("status", "unknown"))
    style = _STATUS_STYLE.get(status, "")
    run_id = str(doc.get("run_id", "—"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="key", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("run id", f"[bold]{escape(run_id)}[/]")
    grid.add_row("status", f"[{style}]{escape(status)}[/]" if style else escape(status))
    if status != "completed":
        grid.add_row("progress", _percent(doc.get("progress")))
    for key, label in (("created_at", "created"), ("started_at", "started"),
                       ("completed_at", "ended")):
        when = _when(doc.get(key))
        if when:
            grid.add_row(label, when)
    if "charged_cost" in doc:
        grid.add_row("cost", _cost(doc.get("charged_cost")))
    if doc.get("error_code") or doc.get("error_message"):
        code = escape(str(doc.get("error_code") or "unknown"))
        message = escape(str(doc.get("error_message") or ""))
        grid.add_row("error", f"[code]{code}[/]" + (f": {message}" if message else ""))

    outputs = doc.get("outputs")
    if isinstance(outputs, list) and outputs:
        table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="key")
        table.add_column("output")
        table.add_column("type")
        table.add_column("url / text", overflow="fold")
        for item in outputs:
            if not isinstance(item, dict):
                continue
            value = str(item.get("url", ""))
            if item.get("type") == "text" and len(value) > _TEXT_PREVIEW:
                value = value[:_TEXT_PREVIEW] + "…"
            table.add_row(escape(str(item.get("output_id", "?"))),
                          escape(str(item.get("type", "?"))), escape(value))
        grid.add_row("outputs", table)

    local_files = doc.get("local_files")
    if isinstance(local_files, list) and local_files:
        files = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="key")
        files.add_column("output")
        files.add_column("path", overflow="fold")
        files.add_column("bytes", justify="right")
        for item in local_files:
            if isinstance(item, dict):
                files.add_row(escape(str(item.get("output_id", "?"))),
                              escape(str(item.get("path", ""))),
                              f"{item.get('bytes', 0):,}" if isinstance(item.get("bytes"), int)
                              else "—")
        grid.add_row("saved", files)

    if status in ("pending", "running"):
        grid.add_row("next", f"[ok]flora runs wait {escape(run_id)}[/]")
    title = {"completed": "Run completed", "failed": "Run failed", "running": "Run running",
             "pending": "Run pending"}.get(status, "Run")
    console.print(Panel(grid, title=f"[{style or 'bold'}]{title}[/]", title_align="left",
                        border_style=style or "white", expand=False))

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
        return f"${value:,.4f}".rstrip("0").rstrip(".") if value else "$0"
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

"""`pretty` tables of the list commands (models, workspaces, projects) and one model's card.

Every string from the network goes through `textsafe.clean_line` and rich's `escape`. ID
columns never wrap and are as wide as their longest ID, so an ID is never cut: on a narrow
terminal the other columns fold instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flora_cli import modelcheck
from flora_cli.textsafe import clean, clean_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def text(value: Any) -> str:
    """A network value as safe table text (markup escaped, control characters visible)."""
    from rich.markup import escape

    return escape(clean_line(value if isinstance(value, str) else modelcheck.shown(value)))


def _when(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        return "—"
    seconds = value / 1000 if value > 1e11 else value  # the unit is not stated
    try:
        return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "—"


def _table(id_header: str, ids: Sequence[str], *headers: str, keep: Sequence[str] = ()
           ) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, header_style="key", pad_edge=False)
    width = max([len(id_header), *(len(clean_line(i)) for i in ids)])
    table.add_column(id_header, no_wrap=True, min_width=width, style="bold")
    for header in headers:
        if header in keep:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    return table


def _items(doc: Any, key: str) -> list[dict[str, Any]]:
    items = doc.get(key) if isinstance(doc, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _seconds(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"~{value} s" if value < 120 else f"~{value / 60:.0f} min"
    return "—"


def render_models(console: Console, doc: Any) -> None:
    models = _items(doc, "models")
    if not models:
        console.print("No models.")
        return
    table = _table("MODEL ID", [str(m.get("model_id", "")) for m in models],
                   "NAME", "TYPE", "PROVIDER", "CREDITS", "TIME")
    table.columns[4].justify = "right"
    table.columns[5].justify = "right"
    for m in models:
        name = text(m.get("name", ""))
        if m.get("beta") is True:
            name += " [hint](beta)[/]"
        table.add_row(text(m.get("model_id", "")), name, text(m.get("type", "")),
                      text(m.get("provider", "")), text(m.get("estimated_credits", "—")),
                      _seconds(m.get("estimated_seconds")))
    console.print(table)
    console.print(f"[hint]{len(models)} models. Details and params: "
                  "flora models get MODEL_ID[/]", highlight=False)


def render_workspaces(console: Console, doc: Any) -> None:
    workspaces = _items(doc, "workspaces")
    if not workspaces:
        console.print("No workspaces.")
        return
    table = _table("WORKSPACE ID", [str(w.get("workspace_id", "")) for w in workspaces],
                   "NAME", "ROLE", "CREATED", keep=("CREATED",))
    for w in workspaces:
        table.add_row(text(w.get("workspace_id", "")), text(w.get("name", "")),
                      text(w.get("role", "—")), _when(w.get("created_at")))
    console.print(table)
    console.print("[hint]Projects of a workspace: flora projects list --workspace-id ID[/]",
                  highlight=False)


def render_projects(console: Console, doc: Any) -> None:
    projects = _items(doc, "projects")
    if not projects:
        console.print("No projects.")
        return
    table = _table("PROJECT ID", [str(p.get("project_id", "")) for p in projects],
                   "NAME", "LAST MODIFIED", "ORIGIN", keep=("LAST MODIFIED",))
    for p in projects:
        origin = p.get("origin")
        table.add_row(text(p.get("project_id", "")), text(p.get("name", "")),
                      _when(p.get("last_modified")), text(origin) if origin else "—")
    console.print(table)


def _range(spec: dict[str, Any]) -> str:
    if spec.get("options"):
        return modelcheck.allowed(spec)
    if spec.get("type") == "dict" and spec.get("properties"):
        return modelcheck.allowed(spec).removeprefix("a JSON object with ")
    low, high = spec.get("min"), spec.get("max")
    if low is None and high is None:
        return "—"
    return f"{'' if low is None else f'{low:g}'} … {'' if high is None else f'{high:g}'}"


def render_model(console: Console, model: Any) -> None:
    """One model: what it is, its estimate, and its params as a table."""
    from rich import box
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    if not isinstance(model, dict):  # pragma: no cover - callers validate the shape
        console.print(escape(clean(repr(model))))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="key", no_wrap=True)
    grid.add_column(overflow="fold")
    model_id = str(model.get("model_id", ""))
    grid.add_row("model id", f"[bold]{text(model_id)}[/]")
    grid.add_row("name", text(model.get("name", "")) +
                 (" [hint](beta)[/]" if model.get("beta") is True else ""))
    grid.add_row("type", text(model.get("type", "")))
    grid.add_row("provider", text(model.get("provider", "")))
    caps = model.get("capabilities")
    if isinstance(caps, list) and caps:
        grid.add_row("capabilities", text(", ".join(str(c) for c in caps)))
    grid.add_row("estimate", f"{text(model.get('estimated_credits', '—'))} credits, "
                 f"{_seconds(model.get('estimated_seconds'))} per run")
    console.print(Panel(grid, title=f"[ok]Model[/] {text(model_id)}", title_align="left",
                        border_style="green", expand=False))
    params = [p for p in model.get("params") or [] if isinstance(p, dict)]
    if not params:
        console.print("No params.")
        return
    table = Table(box=box.SIMPLE_HEAD, header_style="key", pad_edge=False)
    width = max([5, *(len(clean_line(str(p.get("name", "")))) for p in params)])
    table.add_column("PARAM", no_wrap=True, min_width=width, style="bold")
    table.add_column("TYPE", no_wrap=True)
    table.add_column("REQUIRED")
    table.add_column("DEFAULT", overflow="fold")
    table.add_column("RANGE / OPTIONS", overflow="fold")
    table.add_column("DESCRIPTION", overflow="fold")
    for p in params:
        description = p.get("description") or p.get("label") or ""
        table.add_row(text(p.get("name", "")), text(p.get("type", "")),
                      "yes" if p.get("required") is True else "no",
                      text(p["default"]) if p.get("default") is not None else "—",
                      text(_range(p)), text(description))
    console.print(table)
    console.print(f"[hint]Use: --model {text(model_id)} --param NAME=VALUE[/]",
                  highlight=False)

"""`pretty` rendering of `flora runs history` (rich is imported inside)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flora_cli.textsafe import clean_line

if TYPE_CHECKING:
    from rich.console import Console

_STYLE = {"completed": "green", "failed": "red", "running": "cyan", "pending": "yellow",
          "started": "yellow", "unknown": "magenta"}


def _short(value: Any, width: int) -> str:
    text = clean_line("" if value is None else str(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def render_history(console: Console, docs: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not docs:
        console.print("No runs in the ledger yet.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("time", "run id", "status", "type", "model", "cost", "batch/row", "prompt"):
        table.add_column(name, no_wrap=name != "prompt", overflow="ellipsis")
    for doc in docs:
        status = str(doc.get("status"))
        cost = doc.get("charged_cost")
        where = ""
        if doc.get("batch_id"):
            where = f"{doc['batch_id']}/{doc.get('row_id') or doc.get('row')}"
        table.add_row(
            escape(_short(doc.get("time", "")[:19].replace("T", " "), 19)),
            escape(_short(doc.get("run_id") or "—", 28)),
            f"[{_STYLE.get(status, 'white')}]{escape(_short(status, 10))}[/]",
            escape(_short(doc.get("type"), 6)),
            escape(_short(doc.get("model") or "—", 24)),
            f"${cost:,.2f}" if isinstance(cost, (int, float)) else "—",
            escape(_short(where, 24)),
            escape(_short(doc.get("prompt"), 60)),
        )
    console.print(table)

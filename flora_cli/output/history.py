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
    show_model = any(doc.get("model") for doc in docs)
    rows = []
    for doc in docs:
        status = str(doc.get("status"))
        cost = doc.get("charged_cost")
        where = ""
        if doc.get("batch_id"):
            batch = str(doc["batch_id"])
            where = f"{batch if len(batch) <= 9 else batch[:8] + '…'}#{doc.get('row')}"
        rows.append([
            _short(str(doc.get("time", ""))[5:16].replace("T", " "), 11),
            _short(doc.get("run_id") or "—", 20),
            status,
            _short(doc.get("type"), 5),
            _short(doc.get("model") or "—", 16),
            f"${cost:,.2f}" if isinstance(cost, (int, float)) else "—",
            _short(where, 16),
            str(doc.get("prompt") or ""),
        ])
    names = ["time", "run id", "status", "type", "model", "cost", "batch#row", "prompt"]
    keep = [i for i in range(len(names)) if names[i] != "model" or show_model]
    # Narrow terminals lose the least useful columns first; the run id is never cut.
    for name, below in (("batch#row", 96), ("type", 84), ("time", 72), ("model", 64)):
        if console.width < below:
            keep = [i for i in keep if names[i] != name]
    widths = {i: max(len(names[i]), *(len(r[i]) for r in rows)) for i in keep[:-1]}
    # The prompt gets what the other columns leave of the width: no row ever wraps.
    room = max(10, console.width - sum(widths.values()) - 2 * (len(keep) - 1) - 1)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    for i in keep:
        table.add_column(names[i], no_wrap=True, overflow="ellipsis")
    for r in rows:
        cells = []
        for i in keep:
            text = escape(_short(r[i], room) if names[i] == "prompt" else r[i])
            if names[i] == "status":
                text = f"[{_STYLE.get(r[i], 'white')}]{text}[/]"
            cells.append(text)
        table.add_row(*cells)
    console.print(table)

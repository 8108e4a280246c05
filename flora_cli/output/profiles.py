"""Pretty views of `auth login`, `auth status` and `config list` (rich, loaded lazily)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flora_cli.textsafe import clean_line


def _text(value: Any) -> str:
    return escape(clean_line(str(value)))


def render_login(console: Console, doc: Any) -> None:
    console.print(f"[ok]✓[/ok] Logged in to profile [key]{_text(doc['profile'])}[/key] "
                  f"at {_text(doc['base_url'])}")
    console.print(f"  key {_text(doc['key'])} stored in {_text(doc['location'])}")
    workspaces = doc.get("workspaces") or []
    plural = "s" if len(workspaces) != 1 else ""
    console.print(f"  the key sees {len(workspaces)} workspace{plural}:")
    for ws in workspaces:
        mark = " (this profile's workspace_id)" if ws.get("workspace_id") == doc.get(
            "workspace_id") else ""
        console.print(f"    {_text(ws.get('workspace_id', ''))}  {_text(ws.get('name', ''))}"
                      f"  role {_text(ws.get('role', ''))}{mark}")


def render_status(console: Console, doc: Any) -> None:
    console.print(f"config: {_text(doc['config_file'])}")
    for row in doc["profiles"]:
        head = f"[key]{_text(row['profile'])}[/key]" + (" (active)" if row["active"] else "")
        console.print(head)
        if row["works"]:
            n = row["workspaces"]
            console.print(f"  [ok]✓[/ok] key {_text(row['key'])} from {_text(row['key_source'])} "
                          f"works: {n} workspace{'s' if n != 1 else ''} at "
                          f"{_text(row['base_url'])}")
        elif row["key"] is None:
            console.print("  [code]✗[/code] no key: flora auth login"
                          + ("" if row["profile"] == "default" else
                             f" --profile {_text(row['profile'])}"))
        else:
            error = row.get("error") or {}
            console.print(f"  [code]✗[/code] key {_text(row['key'])} from "
                          f"{_text(row['key_source'])} does not work at {_text(row['base_url'])}: "
                          f"{_text(error.get('message', ''))} ({_text(error.get('code', ''))})")
        if row["active"] and row["stored_key"] and row["key_source"] != "none" \
                and not row["key_source"].startswith("profile "):
            console.print(f"  the stored key {_text(row['stored_key'])} ({_text(row['stored_in'])})"
                          f" is not used: {_text(row['key_source'])} wins")
        for note in row.get("notes") or []:
            console.print(f"  [hint]![/hint] {_text(note)}")


def render_settings(console: Console, doc: Any) -> None:
    table = Table(box=None, show_edge=False, pad_edge=False)
    table.add_column("SETTING", style="key", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    table.add_column("SOURCE", no_wrap=True)
    for key, row in doc.items():
        value = row.get("value")
        if value is None:
            shown = "-"
        elif isinstance(value, bool):
            shown = str(value).lower()
        elif isinstance(value, float):
            shown = f"{value:g}"
        else:
            shown = str(value)
        table.add_row(_text(key), _text(shown), _text(row.get("source") or ""))
    console.print(table)

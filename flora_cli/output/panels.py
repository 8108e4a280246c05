"""The one panel style of the pretty output: a titled box of `label  value` rows.

A URL is never broken inside the box: when it does not fit on its row, the row says `below`
and the URL is printed after the box on a line of its own, whole, so it can be copied (the
terminal may still soft-wrap it, but no newline is inserted into it). rich is imported here,
so import this module only when rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from flora_cli.textsafe import clean_line

#: Width of the box's border and padding around the rows.
_CHROME = 4
_GAP = 2


@dataclass
class Rows:
    """The label/value rows of a panel, in order."""

    rows: list[tuple[str, RenderableType, str | None]] = field(default_factory=list)

    def add(self, label: str, value: RenderableType) -> None:
        """A row; `label` is plain text, `value` rich markup (escape what came from outside)."""
        self.rows.append((label, value, None))

    def url(self, label: str, url: str) -> None:
        """A row holding a URL (or any long token that must not be broken)."""
        self.rows.append((label, "", clean_line(url)))


def show(console: Console, rows: Rows, *, title: str, style: str) -> None:
    label_width = max((len(label) for label, _, _ in rows.rows), default=0)
    room = console.width - _CHROME - label_width - _GAP
    grid = Table.grid(padding=(0, _GAP))
    grid.add_column(style="key", no_wrap=True)
    grid.add_column(overflow="fold")
    below: list[tuple[str, str]] = []
    for label, value, url in rows.rows:
        if url is None:
            grid.add_row(escape(label), value)
        elif len(url) <= room:
            grid.add_row(escape(label), f"[url]{escape(url)}[/]")
        else:
            grid.add_row(escape(label), "[dim](below)[/]")
            below.append((label, url))
    console.print(Panel(grid, title=title, title_align="left", border_style=style,
                        expand=False))
    for label, url in below:
        console.print(f"[key]{escape(label)}:[/] {escape(url)}", soft_wrap=True,
                      highlight=False)

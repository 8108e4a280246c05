"""rich consoles: one for stdout (results), one for stderr (people). Imported lazily."""

from __future__ import annotations

from rich.console import Console
from rich.theme import Theme

from flora_cli.settings import Settings

_THEME = Theme({"key": "bold cyan", "hint": "yellow", "code": "bold red", "ok": "green",
                "url": "blue"})


def stdout_console(settings: Settings) -> Console:
    # rich itself honours NO_COLOR, FORCE_COLOR and TERM=dumb; --no-color forces it off.
    return Console(theme=_THEME, no_color=settings.no_color or None, highlight=False)


def stderr_console(settings: Settings | None) -> Console:
    no_color = bool(settings and settings.no_color)
    return Console(stderr=True, theme=_THEME, no_color=no_color or None, highlight=False)

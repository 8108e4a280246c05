"""Notices and warnings on stderr (never stdout); silenced by --quiet."""

from __future__ import annotations

import sys

from flora_cli.settings import Settings


def notice(settings: Settings, message: str) -> None:
    """One line on stderr; control characters made visible (ids, paths and URLs in notices
    come from servers)."""
    if not settings.quiet:
        from flora_cli.textsafe import clean

        sys.stderr.write(clean(message.rstrip("\n")) + "\n")
        sys.stderr.flush()


def warning(settings: Settings, message: str) -> None:
    notice(settings, f"warning: {message}")

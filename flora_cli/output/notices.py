"""Notices and warnings on stderr (never stdout); silenced by --quiet."""

from __future__ import annotations

import sys

from flora_cli.settings import Settings


def notice(settings: Settings, message: str) -> None:
    if not settings.quiet:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()


def warning(settings: Settings, message: str) -> None:
    notice(settings, f"warning: {message}")

"""Extra request headers: `--header 'Name: value'` (repeatable) and `FLORA_CUSTOM_HEADERS`
(one `Name: value` per line, the official TypeScript SDK's variable).

The headers the CLI itself owns — `Authorization`, `Idempotency-Key`, `Content-Type`, `Host` —
cannot be set this way (exit 2). A flag replaces an environment header of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from flora_cli.config.errors import ConfigError

HEADERS_ENV = "FLORA_CUSTOM_HEADERS"
RESERVED = ("Authorization", "Idempotency-Key", "Content-Type", "Host")
_RESERVED = frozenset(name.lower() for name in RESERVED)
# RFC 9110 token characters for the name; the value: visible ASCII and spaces/tabs inside.
# (Patterns as text: `re` compiles and caches them on first use, not at every start.)
_NAME = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_VALUE = r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|"

Header = tuple[str, str]


def parse_header(line: str, source: str) -> Header:
    from flora_cli.textsafe import clean_line

    name, sep, value = line.partition(":")
    name, value = name.strip(), value.strip(" \t")
    if not sep or not name:
        raise ConfigError(f"{source}: {clean_line(repr(line))} must look like 'Name: value' "
                          "(e.g. 'X-Team: growth')")
    if not re.fullmatch(_NAME, name):
        raise ConfigError(f"{source}: {clean_line(repr(name))} is not a valid header name")
    if name.lower() in _RESERVED:
        raise ConfigError(f"{source}: the {name} header is set by flora itself and cannot be "
                          f"replaced (not allowed: {', '.join(RESERVED)})")
    if not re.fullmatch(_VALUE, value):
        raise ConfigError(f"{source}: the value of {name} must be printable ASCII on one line")
    return name, value


def custom_headers(flags: Iterable[str], env: Mapping[str, str]) -> tuple[Header, ...]:
    """Environment headers first, then flags; a later header replaces one of the same name."""
    merged: dict[str, Header] = {}
    for line in env.get(HEADERS_ENV, "").splitlines():
        if line.strip():
            name, value = parse_header(line, HEADERS_ENV)
            merged[name.lower()] = (name, value)
    for line in flags:
        name, value = parse_header(line, "--header")
        merged[name.lower()] = (name, value)
    return tuple(merged.values())

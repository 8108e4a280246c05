"""Terminal safety for text from the network or from files (stdlib only, no heavy imports).

Every string a terminal may see — error messages, codes, fields, ids, URLs, request ids, reason
phrases, progress lines, table cells — goes through `clean` first: C0 controls other than
newline and tab, DEL and the C1 range are replaced by a visible escape (`\\x1b`), so no ESC,
CSI or OSC sequence (colours, titles, hyperlinks, screen clears) can reach the terminal.

JSON written for machines goes through `dumps`: it stays JSON, with every control character
escaped, C1 included (`json.dumps(..., ensure_ascii=False)` leaves U+0080–U+009F raw).
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 except \t and \n, DEL, C1. \r is unsafe too: it lets a line overwrite itself.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_C1 = re.compile("[\x7f-\x9f]")


def _visible(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group(0)):02x}"


def clean(text: str) -> str:
    """`text` with every control character but newline and tab made visible."""
    return _UNSAFE.sub(_visible, text)


def clean_line(text: str) -> str:
    """`clean`, and newlines and tabs made visible too: for one-line fields (ids, URLs)."""
    return _UNSAFE_ONE_LINE.sub(_visible, text)


def is_clean(text: str) -> bool:
    return _UNSAFE.search(text) is None


def _escape_c1(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group(0)):04x}"


def dumps(doc: Any, *, indent: int | None = 2, compact: bool = False) -> str:
    """JSON text for stdout: non-ASCII kept readable, every control character escaped.

    NaN and Infinity are refused (ValueError): they are not JSON.
    """
    separators = (",", ":") if compact else None
    text = json.dumps(doc, ensure_ascii=False, indent=None if compact else indent,
                      separators=separators, allow_nan=False)
    # json.dumps escapes C0 and leaves DEL and C1 raw; inside JSON strings they may be escaped.
    return escape_c1(text)


def escape_c1(json_text: str) -> str:
    """JSON text with DEL and C1 characters escaped (`json` escapes only C0 controls)."""
    return _C1.sub(_escape_c1, json_text)

"""Keeping the API key out of every output (`Bearer sk_test_…` plus a redaction mark)."""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "[REDACTED]"
_SENSITIVE = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie",
                        "proxy-authorization"})
# Patterns as text: `re` compiles (and caches) them on first use, not at every start.
# Extra headers (--header) whose names say they carry a secret: CF-Access-Client-Secret, X-Token…
_SECRET_NAME = r"token|secret|passw|api-?key|auth|cookie|session|signature"
_KEY_PREFIX = r"^(sk_(?:live|test)_)"
_KEY_ANYWHERE = r"sk_(?:live|test)_[A-Za-z0-9_\-]+"


def redact_key(key: str) -> str:
    """`sk_test_abc…` → `sk_test_…[REDACTED]`: the prefix tells which kind of key it was."""
    m = re.match(_KEY_PREFIX, key)
    return f"{m.group(1) if m else ''}…{REDACTED}"


def redact_header(name: str, value: str) -> str:
    low = name.lower()
    if low not in _SENSITIVE and (low == "idempotency-key" or not re.search(_SECRET_NAME, low)):
        return value
    scheme, _, credential = value.partition(" ")
    if credential and scheme.lower() in ("bearer", "basic", "token"):
        return f"{scheme} {redact_key(credential.strip())}"
    return REDACTED


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: redact_header(name, value) for name, value in headers.items()}


def scrub(text: str, secret: str | None) -> str:
    """Remove a known secret, and anything shaped like a FLORA key, from free text."""
    if secret:
        # Not where it is already redacted: a key that is just a prefix (`sk_test_`) would
        # otherwise be found again inside its own mark.
        mark = re.escape("…" + REDACTED)
        text = re.sub(re.escape(secret) + f"(?!{mark})", lambda _m: redact_key(secret), text)
    return re.sub(_KEY_ANYWHERE, lambda m: redact_key(m.group(0)), text)

"""The batch id and each row's derived idempotency key: one run per row, ever.

The key depends on the batch id, the row's `id` (or number) and its canonical body, so running
the same file again sends the same keys, and a changed row (or changed defaults) is a new run.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_PREFIX = "flora-b1-"


def batch_id_for(content_hash: str) -> str:
    """The default batch id: the first 16 hex digits of the file's SHA-256."""
    return "b" + content_hash[:16]


#: What `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
#: allow_nan=False)` builds on every call, built once.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)


def canonical(body: dict[str, Any]) -> str:
    """One spelling of a body: sorted keys, no spaces, non-ASCII kept."""
    return _CANONICAL.encode(body)


def row_key(batch_id: str, label: str, body: dict[str, Any]) -> str:
    """`flora-b1-` + 40 hex digits of SHA-256(batch id, row label, canonical body)."""
    h = hashlib.sha256()
    for part in (batch_id, label, canonical(body)):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return KEY_PREFIX + h.hexdigest()[:40]

"""A small on-disk cache of list answers (GET /models, /workspaces, /projects).

Shell completion and the pre-spend check read it so that a TAB or a start costs no request
while it is fresh (10 minutes). Entries are keyed by the API's base URL and a hash of the key:
the key itself is never written anywhere. Standard library only (a completion run imports
this), and silent: a cache that cannot be read or written is simply a miss.

Location: `FLORA_CACHE_DIR`, else the platform's cache dir (`$XDG_CACHE_HOME/flora` or
`~/.cache/flora` on Linux, `~/Library/Caches/flora` on macOS, `%LOCALAPPDATA%\\flora\\Cache` on
Windows), computed here without platformdirs so that a TAB stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TTL_SECONDS = 600.0


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get("FLORA_CACHE_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":  # pragma: no cover - not tested on Windows
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "flora" / "Cache"
    if sys.platform == "darwin":  # pragma: no cover - not tested on macOS
        return Path.home() / "Library" / "Caches" / "flora"
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "flora"


def account(base_url: str, api_key: str) -> str:
    """The folder name of one (API, key) pair: a hash of the base URL and of a hash of the
    key, so neither the key nor anything that recovers it is ever on disk."""
    key_hash = hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{key_hash}".encode()).hexdigest()[:32]


def entry_name(resource: str, scope: str | None = None) -> str:
    """`models`, `workspaces`, or `projects-<hash of the workspace id>`."""
    if scope is None:
        return resource
    return f"{resource}-{hashlib.sha256(scope.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def path_for(base_url: str, api_key: str, name: str, env: Mapping[str, str] | None = None
             ) -> Path:
    return cache_dir(env) / account(base_url, api_key) / f"{name}.json"


def read(base_url: str, api_key: str, name: str, *, ttl: float = TTL_SECONDS,
         now: float | None = None) -> Any | None:
    """The cached document when it is younger than `ttl` seconds; None on a miss or any error."""
    from flora_cli.api.body import MAX_JSON_BYTES, loads_strict

    try:
        path = path_for(base_url, api_key, name)
        with open(path, "rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            return None
        # A cache file is local input: checked as strictly as an API answer.
        entry = loads_strict(raw.decode("utf-8"))
        saved = entry["saved_at"]
        age = (time.time() if now is None else now) - float(saved)
        if not 0 <= age < ttl or entry.get("base_url") != base_url.rstrip("/"):
            return None
        return entry["data"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def write(base_url: str, api_key: str, name: str, data: Any) -> None:
    """Store `data` (atomically, private to the user); any failure is ignored."""
    import tempfile  # only on a write (a miss): a TAB on a fresh cache never needs it

    try:
        path = path_for(base_url, api_key, name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        entry = {"saved_at": time.time(), "base_url": base_url.rstrip("/"), "data": data}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, ValueError, TypeError, RecursionError):
        return

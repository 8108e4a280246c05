"""Dynamic completion of IDs: `--workspace-id`, `--project-id`, `--model` (filtered by
the `--type` on the line) and `--param KEY=` (the keys of the model on the line).

Answers come from the list cache (`flora_cli.cache`, 10 minutes); a TAB on a fresh cache costs
no request and imports neither httpx nor pydantic. On a miss, one GET is made in a daemon
thread with a 1.5 s budget (the client's timeout, no retries, and a join that never waits
longer), and its answer fills the cache. Any failure — no key, no network, a bad answer, a
slow server — gives no candidates, silently: a TAB must never print an error or hang the shell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import click
from click.shell_completion import CompletionItem

from flora_cli import cache, modelcheck

#: How long a TAB may wait for the API on a cache miss.
BUDGET_SECONDS = 1.5


def _account(ctx: click.Context) -> tuple[str, str, Any] | None:
    """(base URL, key, settings) as the command would resolve them; None when there is no
    key, or under --sandbox (an embedded sandbox is not started for a TAB)."""
    from flora_cli import settings as settings_mod
    from flora_cli.cli.options import given_flags

    settings = settings_mod.resolve(given_flags(ctx), stdout_isatty=False,
                                    notice=lambda _message: None)
    if settings.sandbox or not settings.api_key:
        return None
    return settings.base_url, settings.api_key, settings


def _fetch(settings: Any, path: str, params: dict[str, str] | None,
           check: Callable[[Any], Any]) -> Any | None:
    """GET `path` within the budget; the checked document, or None."""
    box: list[Any] = []

    def work() -> None:
        try:
            from flora_cli.api.client import FloraClient

            with FloraClient(api_key=settings.api_key, base_url=settings.base_url,
                             timeout=BUDGET_SECONDS, max_retries=0,
                             headers=settings.headers) as client:
                deadline = time.monotonic() + BUDGET_SECONDS
                data = client.request("GET", path, params=params, deadline=deadline).data
            check(data)
            box.append(data)
        except Exception:  # silent by design: a TAB shows no error
            return

    thread = threading.Thread(target=work, name="flora-complete", daemon=True)
    thread.start()
    thread.join(BUDGET_SECONDS)
    return box[0] if box else None


def _cached(ctx: click.Context, name: str, path: str, params: dict[str, str] | None,
            check: Callable[[Any], Any]) -> Any | None:
    account = _account(ctx)
    if account is None:
        return None
    base_url, api_key, settings = account
    doc = cache.read(base_url, api_key, name)
    if doc is not None:
        try:
            check(doc)
            return doc
        except Exception:
            pass
    doc = _fetch(settings, path, params, check)
    if doc is not None:
        cache.write(base_url, api_key, name, doc)
    return doc


def _list_of(key: str, id_key: str) -> Callable[[Any], Any]:
    def check(doc: Any) -> Any:
        items = doc[key]
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get(id_key), str) for i in items
        ):
            raise ValueError(key)
        return items

    return check


def _help(item: dict[str, Any], key: str = "name") -> str | None:
    from flora_cli.textsafe import clean_line

    value = item.get(key)
    return clean_line(value) if isinstance(value, str) and value else None


def _safe(answer: Callable[[], list[CompletionItem]]) -> list[CompletionItem]:
    try:
        return answer()
    except Exception:  # silent by design
        return []


def _models(ctx: click.Context) -> list[dict[str, Any]]:
    doc = _cached(ctx, "models", "/models", None, modelcheck.parse_model_list)
    return modelcheck.parse_model_list(doc) if doc is not None else []


def _plain(value: str) -> bool:
    # A candidate with whitespace or a control character would break the shells' protocol.
    return bool(value) and value.isprintable() and not any(c.isspace() for c in value)


def complete_model(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    def answer() -> list[CompletionItem]:
        media_type = ctx.params.get("media_type")
        return [
            CompletionItem(m["model_id"], help=_help(m))
            for m in _models(ctx)
            if (media_type is None or m.get("type") == media_type)
            and m["model_id"].startswith(incomplete) and _plain(m["model_id"])
        ]

    return _safe(answer)


def complete_workspace(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    def answer() -> list[CompletionItem]:
        doc = _cached(ctx, "workspaces", "/workspaces", None,
                      _list_of("workspaces", "workspace_id"))
        items = doc["workspaces"] if doc is not None else []
        return [CompletionItem(w["workspace_id"], help=_help(w)) for w in items
                if w["workspace_id"].startswith(incomplete) and _plain(w["workspace_id"])]

    return _safe(answer)


def _on_line(ctx: click.Context, name: str) -> str | None:
    """A value on the command line (or its env var, which click reads into ctx.params),
    else the profile's when the settings know one."""
    value = ctx.params.get(name)
    if isinstance(value, str) and value:
        return value
    account = _account(ctx)
    profile_value = getattr(account[2], name, None) if account else None
    return profile_value if isinstance(profile_value, str) and profile_value else None


def complete_project(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    def answer() -> list[CompletionItem]:
        workspace_id = _on_line(ctx, "workspace_id")
        if workspace_id is None:
            return []
        doc = _cached(ctx, cache.entry_name("projects", workspace_id), "/projects",
                      {"workspace_id": workspace_id, "limit": "100"},
                      _list_of("projects", "project_id"))
        items = doc["projects"] if doc is not None else []
        return [CompletionItem(p["project_id"], help=_help(p)) for p in items
                if p["project_id"].startswith(incomplete) and _plain(p["project_id"])]

    return _safe(answer)


def _values(spec: dict[str, Any]) -> list[str]:
    if spec.get("options"):
        return [modelcheck.shown(o.get("value")) for o in spec["options"]]
    if spec.get("type") == "bool":
        return ["true", "false"]
    return []


def complete_param(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """`KEY=` for each param of the model on the line; after `KEY=`, the allowed values."""

    def answer() -> list[CompletionItem]:
        model_id = _on_line(ctx, "model")
        if model_id is None:
            return []
        model = next((m for m in _models(ctx) if m["model_id"] == model_id), None)
        if model is None:
            return []
        specs = [s for s in model["params"] if _plain(s["name"])]
        key, sep, value = incomplete.partition("=")
        if sep:
            spec = next((s for s in specs if s["name"] == key), None)
            if spec is None:
                return []
            return [CompletionItem(f"{key}={v}") for v in _values(spec)
                    if v.startswith(value) and _plain(v)]
        return [CompletionItem(f"{s['name']}=") for s in specs if s["name"].startswith(key)]

    return _safe(answer)

"""The list endpoints: GET /models, GET /workspaces, GET /projects (paged).

Every request goes through the client's one transport loop (`FloraClient.request`); this
module checks the shape of each answer with the standard library (no pydantic on these paths)
and turns a break of the contract into `InvalidResponseError` (exit 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flora_cli import cache, modelcheck
from flora_cli.api.client import APIResponse, FloraClient
from flora_cli.api.errors import InvalidResponseError
from flora_cli.textsafe import clean_line


def _broken(response: APIResponse, what: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"The API answered {response.status} with a body that breaks the contract of "
        f"{clean_line(what)}.",
        http_status=response.status,
        request_id=response.request_id,
    )


@dataclass
class ModelsAnswer:
    """GET /models: the response as received and its checked model list."""

    response: APIResponse
    models: list[dict[str, Any]]


def fetch_models(client: FloraClient, media_type: str | None = None) -> ModelsAnswer:
    """GET /models (optionally `?type=`). An unfiltered answer refreshes the cache."""
    response = client.request("GET", "/models",
                              params={"type": media_type} if media_type else None)
    try:
        models = modelcheck.parse_model_list(response.data)
    except modelcheck.ModelListError as exc:
        raise _broken(response, f"GET /models ({exc})") from None
    if media_type is None:
        cache.write(client.base_url, client.api_key, "models", response.data)
    return ModelsAnswer(response, models)


def cached_models(client: FloraClient) -> list[dict[str, Any]] | None:
    """The model list from the cache while it is fresh, else None."""
    doc = cache.read(client.base_url, client.api_key, "models")
    try:
        return modelcheck.parse_model_list(doc) if doc is not None else None
    except modelcheck.ModelListError:
        return None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def fetch_workspaces(client: FloraClient) -> APIResponse:
    response = client.request("GET", "/workspaces")
    data = response.data
    items = data.get("workspaces") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(
        isinstance(w, dict) and _is_str(w.get("workspace_id")) and _is_str(w.get("name"))
        for w in items
    ):
        raise _broken(response, "GET /workspaces")
    cache.write(client.base_url, client.api_key, "workspaces", data)
    return response


@dataclass
class ProjectPage:
    """One page of GET /projects: the response, its projects and the next page's cursor."""

    response: APIResponse
    projects: list[dict[str, Any]]
    next_cursor: str | None


def _project_page(response: APIResponse) -> ProjectPage:
    data = response.data
    if not isinstance(data, dict):
        raise _broken(response, "GET /projects")
    items, meta = data.get("projects"), data.get("meta")
    if not isinstance(items, list) or not all(
        isinstance(p, dict) and _is_str(p.get("project_id")) and _is_str(p.get("name"))
        for p in items
    ):
        raise _broken(response, "GET /projects (projects)")
    if not isinstance(meta, dict) or "next_cursor" not in meta or not (
        meta["next_cursor"] is None or _is_str(meta["next_cursor"])
    ):
        raise _broken(response, "GET /projects (meta.next_cursor)")
    return ProjectPage(response, items, meta["next_cursor"] or None)


def iter_project_pages(
    client: FloraClient,
    workspace_id: str,
    *,
    limit: int | None = None,
    search: str | None = None,
    cursor: str | None = None,
    max_items: int | None = None,
    all_pages: bool = False,
) -> Iterator[ProjectPage]:
    """Pages of GET /projects, following `meta.next_cursor`.

    One page unless `all_pages` or `max_items`; stops on a null cursor or an empty page; a
    cursor the API already gave in this listing is `InvalidResponseError`, never a loop.
    With `max_items`, each request asks only for what is still missing, so no page is cut.
    """
    seen: set[str] = {cursor} if cursor else set()
    remaining = max_items
    first = True
    while True:
        params: dict[str, str] = {"workspace_id": workspace_id}
        size = limit
        if remaining is not None:
            size = min(limit or 100, remaining)
        elif all_pages and limit is None:
            size = 100
        if size is not None:
            params["limit"] = str(size)
        if search:
            params["query"] = search
        if cursor:
            params["cursor"] = cursor
        page = _project_page(client.request("GET", "/projects", params=params))
        if remaining is not None and len(page.projects) > remaining:
            page.projects = page.projects[:remaining]
        if remaining is not None:
            remaining -= len(page.projects)
        if first and size in (None, 100) and not search and cursor is None:
            cache.write(client.base_url, client.api_key,
                        cache.entry_name("projects", workspace_id), page.response.data)
        first = False
        yield page
        more = all_pages or (remaining is not None and remaining > 0)
        if not more or not page.projects or page.next_cursor is None:
            return
        if page.next_cursor in seen:
            raise InvalidResponseError(
                "The API gave the same meta.next_cursor twice while listing projects "
                f"({clean_line(page.next_cursor)[:80]}); stopped instead of looping.",
                http_status=page.response.status,
                request_id=page.response.request_id,
            )
        seen.add(page.next_cursor)
        cursor = page.next_cursor

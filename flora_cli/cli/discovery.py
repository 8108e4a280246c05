"""`flora models list|get`, `flora workspaces list`, `flora projects list`.

Finding the IDs a start command needs. The command layer turns flags into requests and answers
into output; the requests live in `api.discovery`, the tables in `output.tables`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import click

from flora_cli import optspec as o
from flora_cli.api.errors import NotFoundError, UsageError
from flora_cli.cli import params as p
from flora_cli.cli.context import App, get_app
from flora_cli.cli.options import opt, typed


class CursorParam(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """An opaque page cursor as the API gives it: printable ASCII, no whitespace."""

    name = "cursor"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"[\x21-\x7e]{1,4096}", value):
            self.fail("must be a cursor as the API gives it in meta.next_cursor (printable "
                      "ASCII, no whitespace, at most 4096 characters)", param, ctx)
        return value


CURSOR = CursorParam()


def _print_items(app: App, doc: Any, key: str) -> bool:
    """jsonl: one item per line (after --query: each element of a list result). Returns
    False when the format is not jsonl."""
    if app.settings.format != "jsonl":
        return False
    from flora_cli.output.result import apply_query, write_lines

    if app.settings.query is not None:
        result = apply_query(doc, app.settings.query)
        write_lines(result if isinstance(result, list) else [result], app.settings)
    else:
        write_lines(doc.get(key, []) if isinstance(doc, dict) else [], app.settings)
    return True


# --------------------------------------------------------------------------- models


@click.group()
def models() -> None:
    """The models you can use: their IDs, params, estimated cost and time."""


@dataclass(frozen=True)
class ModelsListOptions:
    """The flags of `models list`."""

    media_type: str | None = field(metadata=opt(o.LIST_TYPE, type=p.MEDIA_TYPE))


@models.command("list")
@typed(ModelsListOptions)
def models_list(ctx: click.Context, opts: ModelsListOptions) -> None:
    """List the models (GET /models): ID, name, type, provider, estimated credits and time.
    """
    from flora_cli.api.discovery import fetch_models

    app = get_app(ctx)
    answer = fetch_models(app.client(), opts.media_type)
    if _print_items(app, answer.response.data, "models"):
        return
    from flora_cli.output.result import emit
    from flora_cli.output.tables import render_models

    emit(answer.response.data, app.settings, raw=answer.response.content, pretty=render_models)


@dataclass(frozen=True)
class ModelsGetOptions:
    """The arguments of `models get`."""

    model_id: str


@models.command("get")
@click.argument("model_id", type=p.MODEL_ID, metavar="MODEL_ID")
@typed(ModelsGetOptions)
def models_get(ctx: click.Context, opts: ModelsGetOptions) -> None:
    """Show one model: its params (name, type, required, default, range or options,
    description) and its estimated credits and seconds.
    """
    from flora_cli import modelcheck
    from flora_cli.api.discovery import fetch_models
    from flora_cli.textsafe import clean_line

    app = get_app(ctx)
    answer = fetch_models(app.client())
    model_id = opts.model_id
    model = next((m for m in answer.models if m.get("model_id") == model_id), None)
    if model is None:
        near = modelcheck.closest(model_id, [str(m["model_id"]) for m in answer.models])
        raise NotFoundError(
            f"No model {clean_line(model_id)}" +
            (f"; did you mean {', '.join(near)}?" if near else "."),
            code="not_found",
            request_id=answer.response.request_id,
            hint="List the model IDs with: flora models list",
        )
    from flora_cli.output.result import emit
    from flora_cli.output.tables import render_model

    emit(model, app.settings, pretty=render_model)


# --------------------------------------------------------------------------- workspaces


@click.group()
def workspaces() -> None:
    """The workspaces your key can see."""


@dataclass(frozen=True)
class WorkspacesListOptions:
    """`workspaces list` has no flags of its own."""


@workspaces.command("list")
@typed(WorkspacesListOptions)
def workspaces_list(ctx: click.Context, opts: WorkspacesListOptions) -> None:
    """List the workspaces the key can see (GET /workspaces): ID, name, role.
    """
    from flora_cli.api.discovery import fetch_workspaces

    app = get_app(ctx)
    response = fetch_workspaces(app.client())
    if _print_items(app, response.data, "workspaces"):
        return
    from flora_cli.output.result import emit
    from flora_cli.output.tables import render_workspaces

    emit(response.data, app.settings, raw=response.content, pretty=render_workspaces)


# --------------------------------------------------------------------------- projects


@click.group()
def projects() -> None:
    """The projects of a workspace."""


def workspace_for(app: App, given: str | None) -> str:
    """--workspace-id, else FLORA_WORKSPACE_ID (click reads it), else the profile's, else the
    embedded sandbox's; missing: a usage error naming where to find one."""
    workspace_id = given or getattr(app.settings, "workspace_id", None)
    if workspace_id is None and app.sandbox is not None:
        workspace_id = app.sandbox.workspace_id
    if not workspace_id:
        raise UsageError(
            "Missing option '--workspace-id' (or set FLORA_WORKSPACE_ID); "
            "find yours with: flora workspaces list")
    return str(workspace_id)


@dataclass(frozen=True)
class ProjectsListOptions:
    """The flags of `projects list`."""

    workspace_id: str | None = field(metadata=opt(o.LIST_WORKSPACE_ID, type=p.WORKSPACE_ID))
    search: str | None = field(metadata=opt(o.SEARCH))
    limit: int | None = field(metadata=opt(o.LIMIT, type=click.IntRange(1, 100)))
    cursor: str | None = field(metadata=opt(o.CURSOR, type=CURSOR))
    all_pages: bool = field(metadata=opt(o.ALL_PAGES, is_flag=True))
    max_items: int | None = field(metadata=opt(o.MAX_ITEMS, type=click.IntRange(min=1)))


@projects.command("list")
@typed(ProjectsListOptions)
def projects_list(ctx: click.Context, opts: ProjectsListOptions) -> None:
    """List the projects of a workspace (GET /projects), most recently active first.

    One page by default; --all follows meta.next_cursor to the end, --max-items N until N
    projects. json prints one merged document; jsonl prints one project per line as the
    pages arrive.
    """
    all_pages, max_items = opts.all_pages, opts.max_items
    if all_pages and max_items is not None:
        raise UsageError("--all and --max-items cannot be used together.")
    app = get_app(ctx)
    workspace = workspace_for(app, opts.workspace_id)
    from flora_cli.api.discovery import iter_project_pages

    pages = iter_project_pages(app.client(), workspace, limit=opts.limit, search=opts.search,
                               cursor=opts.cursor, max_items=max_items, all_pages=all_pages)
    settings = app.settings
    streaming = settings.format == "jsonl" and settings.query is None
    if streaming:
        from flora_cli.output.result import write_lines

        for page in pages:
            write_lines(page.projects, settings)
        return

    collected = list(pages)
    first, last = collected[0], collected[-1]
    single = len(collected) == 1 and not all_pages and max_items is None
    if single:
        doc: Any = first.response.data
    else:
        meta = dict(first.response.data.get("meta") or {})
        meta["next_cursor"] = last.next_cursor if last.projects else None
        doc = {**first.response.data,
               "projects": [item for page in collected for item in page.projects],
               "meta": meta}
    if _print_items(app, doc, "projects"):
        return
    from flora_cli.output.result import emit
    from flora_cli.output.tables import render_projects

    emit(doc, settings, raw=first.response.content if single else None,
         pretty=render_projects)
    more = last.next_cursor if last.projects else None
    if settings.pretty and more and not all_pages:
        from flora_cli.output.notices import notice
        from flora_cli.textsafe import clean_line

        notice(settings, f"More projects: add --all, or --cursor {clean_line(more)} for the "
                         "next page.")

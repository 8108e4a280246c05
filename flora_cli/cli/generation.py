"""`runs start-generation` and `generations create`: one set of flags, two endpoints (SPEC §3).

The command layer only translates flags into a request and a response into output: HTTP lives
in `api.client`, formatting in `output`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click

from flora_cli.api.errors import InvalidResponseError
from flora_cli.cli import params as p
from flora_cli.cli.context import App, get_app
from flora_cli.cli.options import global_options
from flora_cli.cli.waiting import (
    START_WAIT_OPTIONS,
    check_wait_flags,
    follow_run,
    prepare_download_dir,
)

F = TypeVar("F", bound=Callable[..., Any])

DEPRECATION = (
    "POST /runs/generation is deprecated upstream; use 'flora generations create' "
    "(same flags, POST /generate). Set FLORA_NO_DEPRECATION_WARNING=1 to hide this warning."
)

#: The request model's fields and the flags that fill them (a parity test checks both ways).
BODY_FLAGS = {
    "type": "--type",
    "prompt": "--prompt",
    "workspace_id": "--workspace-id",
    "project_id": "--project-id",
    "model": "--model",
    "params": "--params/--param",
}

_GENERATION_OPTIONS: tuple[Callable[[F], F], ...] = (
    click.option("--project-id", "project_id", type=p.PROJECT_ID, envvar="FLORA_PROJECT_ID",
                 show_envvar=True, metavar="ID",
                 help="Project to generate in (prj_…). Required."),
    click.option("--workspace-id", "workspace_id", type=p.WORKSPACE_ID,
                 envvar="FLORA_WORKSPACE_ID", show_envvar=True, metavar="ID",
                 help="Workspace of the project (ws_…). Required."),
    click.option("--type", "media_type", type=p.MEDIA_TYPE, metavar="TYPE",
                 help="Media type: image, video, audio or text (any case). Required."),
    click.option("--prompt", type=p.PROMPT, metavar="TEXT",
                 help="Prompt text; '-' reads stdin, '@PATH' a file, '\\@' a literal @. "
                 "Required."),
    click.option("--model", type=p.MODEL_ID, metavar="ID",
                 help="Model endpoint ID, e.g. t2i-flux-2-pro (default: the workspace's)."),
    click.option("--params", "params_json", type=p.PARAMS, metavar="JSON",
                 help="Model parameters as a JSON object; '@PATH' or '-' read it."),
    click.option("--param", "param_pairs", type=p.KEY_VALUE, multiple=True,
                 metavar="KEY=VALUE",
                 help="One model parameter (repeatable); VALUE is JSON when it parses, "
                 "else a string; overrides --params."),
    click.option("--idempotency-key", type=p.IDEMPOTENCY_KEY, metavar="KEY",
                 help="Key sent on every attempt (default: a new UUID4 per invocation)."),
    *START_WAIT_OPTIONS,
    click.option("--dry-run", is_flag=True,
                 help="Print the request that would be sent (key redacted); send nothing."),
)


def generation_options(f: F) -> F:
    """The command's own flags first in --help, then the global options."""
    f = global_options(f)
    for option in reversed(_GENERATION_OPTIONS):
        f = option(f)
    return f


def _required(value: Any, flag: str, env: str | None = None) -> Any:
    if value is None:
        where = f" (or set {env})" if env else ""
        raise click.UsageError(f"Missing option '{flag}'{where}.")
    return value


def build_body(
    app: App,
    *,
    project_id: str | None,
    workspace_id: str | None,
    media_type: str | None,
    prompt: str | None,
    model: str | None,
    params_json: dict[str, Any] | None,
    param_pairs: tuple[tuple[str, Any], ...],
) -> dict[str, Any]:
    """The request body: exactly the fields given; `model` and `params` omitted when not given."""
    if app.sandbox is not None:
        project_id = project_id or app.sandbox.project_id
        workspace_id = workspace_id or app.sandbox.workspace_id
    body: dict[str, Any] = {
        "type": _required(media_type, "--type"),
        "prompt": _required(prompt, "--prompt"),
        "workspace_id": _required(workspace_id, "--workspace-id", "FLORA_WORKSPACE_ID"),
        "project_id": _required(project_id, "--project-id", "FLORA_PROJECT_ID"),
    }
    if model is not None:
        body["model"] = model
    if params_json is not None or param_pairs:
        merged = dict(params_json or {})
        merged.update(dict(param_pairs))
        body["params"] = merged
    return body


def run_generation(ctx: click.Context, endpoint: str, *, deprecated: bool,
                   **opts: Any) -> None:
    app = get_app(ctx)
    dry_run = opts.pop("dry_run")
    idem = opts.pop("idempotency_key") or str(uuid.uuid4())
    download = opts.pop("download")
    poll_interval = opts.pop("poll_interval")
    wait_timeout = opts.pop("wait_timeout")
    wait = check_wait_flags(ctx, wait=opts.pop("wait"), download=download)
    body = build_body(app, **opts)

    from flora_cli.output.notices import warning

    if deprecated and os.environ.get("FLORA_NO_DEPRECATION_WARNING", "").strip() not in (
        "1", "true", "yes"
    ):
        warning(app.settings, DEPRECATION)

    from flora_cli.output.result import emit

    if dry_run:
        client = app.client(require_key=False)
        prepared = client.prepare("POST", endpoint, body=body, idempotency_key=idem)
        doc = prepared.to_document()
        if not app.settings.api_key:
            doc["headers"]["Authorization"] = "(missing: set FLORA_API_KEY or --api-key)"
        emit(doc, app.settings)
        return

    if wait:
        prepare_download_dir(download)
    response = app.client().request("POST", endpoint, body=body, idempotency_key=idem)
    data = response.data
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        raise InvalidResponseError(
            f"The API answered {response.status} without a run_id; the response breaks the "
            "API contract.",
            http_status=response.status,
            request_id=response.request_id,
            idempotency_key=idem,
        )
    if response.replayed:
        from flora_cli.output.notices import notice

        notice(app.settings, f"note: the API replayed its earlier answer for idempotency key "
                             f"{idem}; no new run was started.")

    if wait:
        # stdout gets only the final run document; the start answer is not printed.
        follow_run(
            app,
            data["run_id"],
            poll_url=data.get("poll_url"),
            estimated_seconds=data.get("estimated_seconds"),
            poll_interval=poll_interval,
            wait_timeout=wait_timeout,
            download=download,
        )
        return

    from flora_cli.output.pretty import render_run_created

    emit(data, app.settings, raw=response.content, pretty=render_run_created)

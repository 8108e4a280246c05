"""`runs start-generation` and `generations create`: one set of flags, two endpoints.

The command layer only translates flags into a request and a response into output: HTTP lives
in `api.client`, formatting in `output`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from flora_cli import optspec as o
from flora_cli.api.errors import InvalidResponseError, UsageError
from flora_cli.cli import batch as b
from flora_cli.cli import params as p
from flora_cli.cli.context import App, get_app
from flora_cli.cli.options import opt
from flora_cli.cli.waiting import (
    DOWNLOAD_TYPE,
    check_wait_flags,
    follow_run,
    prepare_download_dir,
)
from flora_cli.optspec import OptionSpec
from flora_cli.vocab import env_flag, new_idempotency_key

if TYPE_CHECKING:
    from pathlib import Path

    from flora_cli.batch.reader import Shard

DEPRECATION = (
    "POST /runs/generation is deprecated upstream; use 'flora generations create' "
    "(same flags, POST /generate). Set FLORA_NO_DEPRECATION_WARNING=1 to hide this warning."
)

#: The request model's fields and the options that fill them (a parity test checks both ways).
BODY_FLAGS: dict[str, OptionSpec] = {
    "type": o.MEDIA_TYPE,
    "prompt": o.PROMPT,
    "workspace_id": o.WORKSPACE_ID,
    "project_id": o.PROJECT_ID,
    "model": o.MODEL,
    "params": o.PARAMS,
}


@dataclass(frozen=True)
class GenerationOptions:
    """The flags of `runs start-generation` and `generations create`, in --help order."""

    project_id: str | None = field(metadata=opt(o.PROJECT_ID, type=p.PROJECT_ID))
    workspace_id: str | None = field(metadata=opt(o.WORKSPACE_ID, type=p.WORKSPACE_ID))
    media_type: str | None = field(metadata=opt(o.MEDIA_TYPE, type=p.MEDIA_TYPE))
    prompt: str | None = field(metadata=opt(o.PROMPT, type=p.PROMPT))
    model: str | None = field(metadata=opt(o.MODEL, type=p.MODEL_ID))
    params_json: dict[str, Any] | None = field(metadata=opt(o.PARAMS, type=p.PARAMS))
    param_pairs: tuple[tuple[str, Any], ...] = field(
        metadata=opt(o.PARAM, type=p.KEY_VALUE, multiple=True))
    idempotency_key: str | None = field(metadata=opt(o.IDEMPOTENCY_KEY, type=p.IDEMPOTENCY_KEY))
    wait: bool = field(metadata=opt(o.WAIT, is_flag=True))
    poll_interval: float | None = field(
        metadata=opt(o.POLL_INTERVAL, type=p.POLL_INTERVAL, default=None))  # profile below it
    wait_timeout: float | None = field(metadata=opt(o.WAIT_TIMEOUT, type=p.WAIT_TIMEOUT))
    poll_patience: float | None = field(metadata=opt(o.POLL_PATIENCE, type=p.POLL_PATIENCE))
    download: Path | None = field(metadata=opt(o.DOWNLOAD, type=DOWNLOAD_TYPE))
    max_download_size: int | None = field(
        metadata=opt(o.MAX_DOWNLOAD_SIZE, type=p.BYTE_SIZE))
    text: bool = field(metadata=opt(o.TEXT, is_flag=True))
    no_check: bool = field(metadata=opt(o.NO_CHECK, is_flag=True))
    dry_run: bool = field(metadata=opt(o.DRY_RUN, is_flag=True))
    from_file: str | None = field(metadata=opt(o.FROM_FILE, type=b.FROM_FILE))
    concurrency: int | None = field(metadata=opt(o.CONCURRENCY, type=click.IntRange(1, 64)))
    ordered: bool = field(metadata=opt(o.ORDERED, is_flag=True))
    max_cost: float | None = field(metadata=opt(o.MAX_COST, type=b.USD))
    shard: Shard | None = field(metadata=opt(o.SHARD, type=b.SHARD))
    batch_id: str | None = field(metadata=opt(o.BATCH_ID, type=b.BATCH_ID))


def _required(value: Any, spec: OptionSpec) -> Any:
    if value is None:
        where = f" (or set {spec.env})" if spec.env else ""
        raise UsageError(f"Missing option '{spec.flag}'{where}.")
    return value


def build_body(app: App, opts: GenerationOptions) -> dict[str, Any]:
    """The request body: exactly the fields given; `model` and `params` omitted when not given."""
    # Flag or environment (click), then the profile (settings), then the embedded sandbox's.
    project_id = opts.project_id or app.settings.project_id
    workspace_id = opts.workspace_id or app.settings.workspace_id
    model = opts.model or app.settings.model
    if app.sandbox is not None:
        project_id = project_id or app.sandbox.project_id
        workspace_id = workspace_id or app.sandbox.workspace_id
    body: dict[str, Any] = {
        "type": _required(opts.media_type, o.MEDIA_TYPE),
        "prompt": _required(opts.prompt, o.PROMPT),
        "workspace_id": _required(workspace_id, o.WORKSPACE_ID),
        "project_id": _required(project_id, o.PROJECT_ID),
    }
    if model is not None:
        body["model"] = model
    if opts.params_json is not None or opts.param_pairs:
        merged = dict(opts.params_json or {})
        merged.update(dict(opts.param_pairs))
        body["params"] = merged
    return body


def run_generation(ctx: click.Context, endpoint: str, opts: GenerationOptions, *,
                   deprecated: bool) -> None:
    app = get_app(ctx)
    idem = opts.idempotency_key or new_idempotency_key()
    wait = check_wait_flags(ctx, wait=opts.wait, download=opts.download, text=opts.text)
    b.check_batch_flags(opts)

    from flora_cli.output.notices import warning

    if opts.from_file is not None:
        if deprecated and not opts.dry_run and not env_flag(os.environ,
                                                            "FLORA_NO_DEPRECATION_WARNING"):
            warning(app.settings, DEPRECATION)
        b.run_batch(app, endpoint, opts, wait=wait)
        return

    body = build_body(app, opts)

    if deprecated and not env_flag(os.environ, "FLORA_NO_DEPRECATION_WARNING"):
        warning(app.settings, DEPRECATION)

    from flora_cli.output.result import emit

    # The pre-spend check (exit 2 before anything is sent) and the estimate: only when the
    # request names a model (else the workspace's default, which the CLI does not know).
    estimate: dict[str, Any] | None = None
    if "model" in body and not opts.no_check:
        from flora_cli.cli.precheck import check_body

        estimate = check_body(app, body, from_pairs={key for key, _ in opts.param_pairs},
                              offline=opts.dry_run)

    if opts.dry_run:
        client = app.client(require_key=False)
        prepared = client.prepare("POST", endpoint, body=body, idempotency_key=idem)
        doc = prepared.to_document()
        if not app.settings.api_key:
            doc["headers"]["Authorization"] = "(missing: set FLORA_API_KEY or --api-key)"
        doc["estimate"] = estimate
        emit(doc, app.settings)
        return

    if wait:
        prepare_download_dir(opts.download)
    app.idempotency_key = idem
    ledger = b.open_ledger(app)  # a corrupt ledger stops here, before anything is sent
    try:
        response = app.client().request("POST", endpoint, body=body, idempotency_key=idem)
        data = response.data
        if isinstance(data, dict) and isinstance(data.get("run_id"), str):
            b.record_single(app, ledger, endpoint, idem, body, data)
    finally:
        if ledger is not None:
            ledger.close()
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        raise InvalidResponseError(
            f"The API answered {response.status} without a run_id; the response breaks the "
            "API contract.",
            http_status=response.status,
            request_id=response.request_id,
            idempotency_key=idem,
        )
    app.run_started(data["run_id"], opts.download)
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
            poll_interval=opts.poll_interval,
            wait_timeout=opts.wait_timeout,
            download=opts.download,
            text=opts.text,
            poll_patience=opts.poll_patience,
            max_download_size=opts.max_download_size,
        )
        return

    def pretty(console: Any, doc: Any) -> None:
        # Imported only when rendered: a --json start never loads the pretty renderers.
        from flora_cli.output.pretty import render_run_created

        render_run_created(console, doc, app.next_command, estimate=estimate)

    emit(data, app.settings, raw=response.content, pretty=pretty)

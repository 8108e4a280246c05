"""`--from-file` on the start commands, the ledger hooks of single runs, `runs history`.

The command layer wires things: rows come from `batch.reader`, keys from `batch.keys`, the
scheduler is `batch.runner`, the ledger `batch.ledger`; progress is drawn by
`output.batch_display`. Heavy modules load only inside the commands.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from flora_cli import optspec as o
from flora_cli.api.errors import (
    EXIT_BATCH_INCOMPLETE,
    FloraError,
    InterruptedError_,
    TerminatedError,
    UsageError,
)
from flora_cli.cli import params as p

if TYPE_CHECKING:
    from flora_cli.batch.ledger import Ledger
    from flora_cli.batch.reader import Defaults
    from flora_cli.cli.context import App
    from flora_cli.cli.generation import GenerationOptions



class FromFileParam(p._SourceType):
    """`FILE` or `-` (stdin); only one option may read stdin."""

    name = "file"

    def parse(self, value: str) -> str:
        if not value:
            raise p.ParamError("must be a file path or '-'")
        return value


class ShardParam(p._FuncType):
    name = "k/n"

    def parse(self, value: str) -> Any:
        from flora_cli.batch.reader import parse_shard

        return parse_shard(value)


class BatchIdParam(p._FuncType):
    name = "id"

    def parse(self, value: str) -> str:
        from flora_cli.batch.reader import parse_batch_id

        return parse_batch_id(value)


class UsdParam(p._FuncType):
    name = "usd"

    def parse(self, value: str) -> float:
        try:
            usd = float(value.strip().lstrip("$"))
        except ValueError:
            raise p.ParamError(f"{value!r} is not an amount in USD (e.g. 12.50)") from None
        if not (usd == usd and usd not in (float("inf"), float("-inf"))) or usd < 0:
            raise p.ParamError(f"{value!r} must be a finite amount of at least 0")
        return usd


FROM_FILE = FromFileParam()
SHARD = ShardParam()
BATCH_ID = BatchIdParam()
USD = UsdParam()

#: The batch-only options: refused without --from-file.
_BATCH_ONLY = (o.CONCURRENCY, o.ORDERED, o.MAX_COST, o.SHARD, o.BATCH_ID)


def check_batch_flags(opts: GenerationOptions) -> None:
    """Batch flags without --from-file, and --idempotency-key with it, are usage errors."""
    if opts.from_file is None:
        for spec in _BATCH_ONLY:
            if getattr(opts, spec.dest) not in (None, False):
                raise UsageError(f"{spec.flag} only applies with --from-file.")
    elif opts.idempotency_key is not None:
        raise UsageError("--idempotency-key does not apply with --from-file: each row's key is "
                         "derived from the batch id, the row and its body.")
    elif opts.text:
        raise UsageError("--text does not apply with --from-file: each row is one JSON line "
                         "(its run's outputs are in local_files with --download).")


# -- the ledger -----------------------------------------------------------------------------


def profile_of(app: App) -> str | None:
    return app.settings.profile


def open_ledger(app: App) -> Ledger | None:
    """The ledger for this command, or None when it is off (`FLORA_NO_LEDGER=1`,
    `ledger = false` in the profile). A corrupt or stuck ledger is a usage error naming the
    file, before anything is sent."""
    from flora_cli.batch.ledger import LedgerError
    from flora_cli.batch.ledger import open_ledger as open_

    try:
        return open_(profile_setting=app.settings.ledger)
    except LedgerError as exc:
        raise UsageError(exc.message, code="ledger_unavailable") from None


def api_origin(base_url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}{parts.path.rstrip('/')}"


def record_single(app: App, ledger: Ledger | None, endpoint: str, key: str,
                  body: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """A single run that started: one ledger row. A failure is a warning, never an error:
    the run exists and its id is on stdout."""
    if ledger is None:
        return
    from flora_cli.batch.ledger import LedgerError, Record

    cost = data.get("charged_cost")
    try:
        ledger.write([Record.for_body(
            api_origin(app.settings.base_url), endpoint, key, body, status="started",
            profile=profile_of(app), run_id=str(data.get("run_id")),
            charged_cost=float(cost) if isinstance(cost, (int, float)) else None)])
    except LedgerError as exc:
        _ledger_warning(app, exc.message)


def record_wait(app: App, run_id: str, doc: Mapping[str, Any],
                local_files: list[dict[str, Any]] | None = None) -> None:
    """What a wait observed (status, cost, error code, files) updates the run's ledger row."""
    from flora_cli.batch.ledger import LedgerError, RunUpdate, disabled, ledger_path

    if disabled(profile_setting=app.settings.ledger):
        return
    if not os.path.exists(ledger_path()):
        return
    status = doc.get("status")
    if status not in ("pending", "running", "completed", "failed"):
        return
    cost = doc.get("charged_cost")
    try:
        ledger = open_ledger(app)
        if ledger is None:
            return
        try:
            ledger.write([], [RunUpdate(
                api_origin(app.settings.base_url), run_id, str(status),
                charged_cost=float(cost) if isinstance(cost, (int, float)) else None,
                error_code=str(doc["error_code"]) if doc.get("error_code") else None,
                local_files=local_files)])
        finally:
            ledger.close()
    except (LedgerError, UsageError) as exc:
        _ledger_warning(app, exc.message)


def _ledger_warning(app: App, message: str) -> None:
    from flora_cli.output.notices import warning
    from flora_cli.textsafe import clean

    warning(app.settings, clean(message))


# -- the batch ------------------------------------------------------------------------------


def make_defaults(app: App, opts: GenerationOptions) -> Defaults:
    from flora_cli.batch.reader import Defaults

    # Flag or environment, then the profile, then the embedded sandbox's (as single runs).
    workspace = opts.workspace_id or app.settings.workspace_id
    project = opts.project_id or app.settings.project_id
    if app.sandbox is not None:
        workspace = workspace or app.sandbox.workspace_id
        project = project or app.sandbox.project_id
    params = dict(opts.params_json or {})
    params.update(dict(opts.param_pairs))
    return Defaults(type=opts.media_type, prompt=opts.prompt, workspace_id=workspace,
                    project_id=project, model=opts.model or app.settings.model, params=params)


def bad_rows_error(exc: Any) -> UsageError:
    lines = [exc.message]
    for problem in exc.problems:
        where = (f"row {problem.row} (line {problem.line})" if problem.row
                 else f"line {problem.line}")
        lines.append(f"  {where}: {problem.field}: {problem.reason}")
    error: dict[str, Any] = {"code": "usage_error", "message": "\n".join(lines)}
    if exc.problems:
        error["rows"] = [pr.to_document() for pr in exc.problems]
    return UsageError("\n".join(lines), error=error)


@contextmanager
def _signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """SIGINT and SIGTERM stop new rows from starting (handled like Ctrl-C)."""
    if sys.platform == "win32" or not _main_thread():  # pragma: no cover
        yield
        return
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda signum, frame: on_signal(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_batch(app: App, endpoint: str, opts: GenerationOptions, *, wait: bool) -> None:
    from flora_cli.batch import reader
    from flora_cli.batch.keys import batch_id_for, row_key

    assert opts.from_file is not None
    download, dry_run = opts.download, opts.dry_run
    defaults = make_defaults(app, opts)
    concurrency = opts.concurrency or 4
    models = _Models(app, offline=dry_run)
    try:
        source = reader.Source(opts.from_file)
    except reader.BatchInputError as exc:
        raise bad_rows_error(exc) from None
    with source:
        try:
            summary = reader.validate(
                source, defaults, check=None if opts.no_check else _precheck(models))
        except reader.BatchInputError as exc:
            raise bad_rows_error(exc) from None
        batch_id = opts.batch_id or batch_id_for(summary.content_hash)
        shard = opts.shard
        total = sum(1 for n in range(1, summary.rows + 1) if shard is None or shard.takes(n))

        if dry_run:
            client = app.client(require_key=False)
            from flora_cli.textsafe import dumps

            for row in reader.rows(source, defaults, shard):
                key = row_key(batch_id, row.label, row.body)
                doc = client.prepare("POST", endpoint, body=row.body,
                                     idempotency_key=key).to_document()
                sys.stdout.write(dumps({"row": row.number, "id": row.id, "batch_id": batch_id,
                                        **doc}, indent=None, compact=True) + "\n")
            sys.stdout.flush()
            return

        if wait and download is not None:
            from flora_cli.cli.waiting import prepare_download_dir

            prepare_download_dir(download)
        ledger = open_ledger(app)
        client = app.client()
        estimate = _estimator(models) if opts.max_cost is not None else None

        from flora_cli.api.polling import DEFAULT_POLL_INTERVAL
        from flora_cli.batch.runner import Batch, Options, Output
        from flora_cli.output.batch_display import batch_display

        options = Options(
            endpoint=endpoint, batch_id=batch_id, origin=api_origin(app.settings.base_url),
            concurrency=concurrency, ordered=opts.ordered, wait=wait, download=download,
            poll_interval=(opts.poll_interval if opts.poll_interval is not None
                           else DEFAULT_POLL_INTERVAL),
            wait_timeout=opts.wait_timeout, max_cost=opts.max_cost, profile=profile_of(app))
        output = Output(sys.stdout, ordered=options.ordered)
        received: list[int] = []
        with batch_display(app.settings, total, batch_id) as display:
            runner = Batch(client, options, total=total, output=output, ledger=ledger,
                           estimate=estimate, on_change=display.update, on_note=display.note)

            def on_signal(signum: int) -> None:
                received.append(signum)
                name = "terminated" if signum == signal.SIGTERM else "interrupted"
                runner.interrupt({"code": name,
                                  "message": f"Not started: the batch was {name}."})

            try:
                with _signals(on_signal):
                    stats = runner.run(reader.rows(source, defaults, shard))
            finally:
                if ledger is not None:
                    ledger.close()
            display.finish(stats)
    writer_error = output.error if ledger is not None else None
    if writer_error is not None:
        raise FloraError(
            f"{writer_error.message} {len(output.unwritten)} "
            "result(s) are on stdout but not in the ledger; running the command again sends "
            "their same idempotency keys, so the API does not start them twice.",
            code="ledger_unavailable", exit_code=EXIT_BATCH_INCOMPLETE)
    if received:
        cls = TerminatedError if received[-1] == signal.SIGTERM else InterruptedError_
        raise cls(
            f"{'Terminated' if cls is TerminatedError else 'Interrupted'}: no new rows were "
            f"started; the {stats.started} run(s) this batch started are recorded.",
            hint="Run the same command again to start only the rows that did not start.")
    if stats.failed:
        hint = "Run the same command again to send the rows that were rejected or not started."
        if stats.run_failed:
            hint += (f" The {stats.run_failed} failed run(s) are not sent again: change those "
                     "rows (a new row is a new run), or see them with 'flora runs history "
                     f"--batch {batch_id} --status failed'.")
        if runner.auth_failed:
            hint = "The API refused the key: fix it, then run the same command again."
        raise FloraError(
            f"Batch {batch_id}: {stats.failed} of {stats.total} row(s) were rejected, failed "
            "or not started (see their lines on stdout).",
            code="batch_incomplete", exit_code=EXIT_BATCH_INCOMPLETE, hint=hint)


class _Models:
    """The model list, loaded once and only when a row needs it (the cache, else one
    GET /models, as the single-run pre-spend check does)."""

    def __init__(self, app: App, *, offline: bool) -> None:
        self.app = app
        self.offline = offline
        self._models: list[dict[str, Any]] | None = None
        self._loaded = False

    def get(self) -> list[dict[str, Any]] | None:
        if not self._loaded:
            from flora_cli.cli.precheck import load_models

            self._loaded = True
            self._models = load_models(self.app, offline=self.offline)
        return self._models


def _precheck(models: _Models) -> Callable[[dict[str, Any]], list[tuple[str, str]]]:
    """The pre-spend check for each row that names a model: (field, reason) per
    problem; nothing when the list cannot be had (one notice; the API decides).
    `modelcheck` loads only when a row names a model."""

    def check(body: dict[str, Any]) -> list[tuple[str, str]]:
        model_id = body.get("model")
        if not isinstance(model_id, str):
            return []
        listed = models.get()
        if listed is None:
            return []
        from flora_cli import modelcheck

        _, issues = modelcheck.check_request(listed, model_id, body.get("type"),
                                             body.get("params") or {})
        return [(i.field, i.describe()) for i in issues]

    return check


#: The sandbox prices 1 credit at 0.01 USD; the API documents credits without a rate.
USD_PER_CREDIT = 0.01


def _estimator(models: _Models) -> Callable[[Mapping[str, Any]], float | None]:
    """The estimated cost in USD of one row: the model's `estimated_credits` scaled by
    `num_images`, at USD_PER_CREDIT. A row with no model is costed at the dearest model of
    its type. When the list cannot be had, nothing is estimated and --max-cost counts the
    costs the API charged so far."""
    from flora_cli import modelcheck

    listed = models.get() or []
    by_id = {str(m.get("model_id")): m for m in listed}

    def estimate(body: Mapping[str, Any]) -> float | None:
        if not listed:
            return None
        params = body.get("params") or {}
        model = by_id.get(str(body.get("model"))) if body.get("model") else None
        candidates = [model] if model is not None else [
            m for m in listed if m.get("type") == body.get("type")]
        if not candidates:
            return None
        credits = max(modelcheck.estimate(m, params)["credits"] for m in candidates)
        return float(credits) * USD_PER_CREDIT

    return estimate


# -- runs history -----------------------------------------------------------------------------


def parse_since(value: str) -> str:
    """An ISO date or date-time (UTC when no zone), or a relative `30m`, `12h`, `7d`."""
    from datetime import datetime, timedelta, timezone

    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[-1:].lower() in units and text[:-1].isdigit():
        when = datetime.now(timezone.utc) - timedelta(seconds=int(text[:-1]) *
                                                      units[text[-1].lower()])
    else:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise p.ParamError(f"{value!r} is not a date (2026-11-29, 2026-11-29T10:00Z) or "
                               "an age (30m, 12h, 7d)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class SinceParam(p._FuncType):
    name = "date"

    def parse(self, value: str) -> str:
        return parse_since(value)


SINCE = SinceParam()


HISTORY_STATUSES = ("started", "pending", "running", "completed", "failed", "unknown")


def history(app: App, *, limit: int, status: str | None, batch: str | None,
            since: str | None) -> None:
    from flora_cli.batch.ledger import LedgerError, disabled, ledger_path
    from flora_cli.batch.ledger import open_ledger as open_

    if disabled(profile_setting=app.settings.ledger):
        from flora_cli.output.notices import notice

        notice(app.settings, "note: the ledger is off (FLORA_NO_LEDGER or the profile's "
                             "'ledger = false'); nothing is recorded.")
    try:
        ledger = open_(readonly=True, profile_setting=None)
        docs = list(ledger.history(limit=limit or None, status=status, batch=batch,
                                   since=since)) if ledger is not None else []
        if ledger is not None:
            ledger.close()
    except LedgerError as exc:
        raise UsageError(exc.message, code="ledger_unavailable") from None
    _ = ledger_path
    from flora_cli.output.result import emit

    settings = app.settings
    if settings.format in ("jsonl", "raw") and settings.query is None:
        from flora_cli.textsafe import dumps

        for doc in docs:
            sys.stdout.write(dumps(doc, indent=None, compact=True) + "\n")
        sys.stdout.flush()
        return
    from flora_cli.output.history import render_history

    emit(docs, settings, pretty=render_history)


def env_no_ledger() -> bool:
    return os.environ.get("FLORA_NO_LEDGER", "").strip().lower() in ("1", "true", "yes", "on")

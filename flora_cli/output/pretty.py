"""`pretty` renderings of API documents for people (rich is imported inside each function)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flora_cli.textsafe import clean, clean_line
from flora_cli.vocab import ACTIVE_STATUSES, STATUS_STYLE, resume_command

#: What to run next about a run that is still going: `flora runs wait RUN_ID` by default.
NextCommand = Callable[[str], str]

if TYPE_CHECKING:
    from rich.console import Console

_TEXT_PREVIEW = 200


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _seconds(value: Any) -> str:
    return f"about {value:g} s" if _number(value) else "unknown"


def _cost(value: Any) -> str:
    if _number(value):
        text = f"{value:,.4f}".rstrip("0")  # at most 4 decimals, at least 2
        whole, _, decimals = text.partition(".")
        return f"${whole}.{decimals.ljust(2, '0')}"
    return "—"


def _when(value: Any) -> str | None:
    """A timestamp of the API (seconds or milliseconds since the epoch; the unit is not
    stated), shown as local time with its zone; None when it is not a number."""
    import datetime as dt

    if not _number(value) or value <= 0:
        return None
    seconds = value / 1000 if value > 1e11 else value
    try:
        return dt.datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except (OverflowError, OSError, ValueError):
        return None


def _percent(value: Any) -> str:
    return f"{value:g} %" if _number(value) else "—"


def _esc(value: Any) -> str:
    from rich.markup import escape

    return escape(clean_line(str(value)))


def render_run_created(console: Console, doc: Any,
                       next_command: NextCommand = resume_command, *,
                       estimate: dict[str, Any] | None = None) -> None:
    """A started run: id, type, model, estimated time, cost, poll URL, and what to run next;
    with the pre-spend estimate (credits and seconds of the model) when there was one."""
    from flora_cli.output.panels import Rows, show

    if not isinstance(doc, dict):  # pragma: no cover - callers validate the shape
        console.print(_esc(repr(doc)))
        return
    rows = Rows()
    model = doc.get("model")
    model_id = model.get("model_id") if isinstance(model, dict) else None
    rows.add("run id", f"[bold]{_esc(doc.get('run_id'))}[/]")
    rows.add("type", _esc(doc.get("type", "—")))
    rows.add("model", _esc(model_id or "workspace default"))
    rows.add("estimated", _seconds(doc.get("estimated_seconds")))
    rows.add("cost", _cost(doc.get("charged_cost")))
    if estimate is not None:
        rows.add("model estimate", f"{_esc(estimate.get('credits'))} credits, "
                 f"{_seconds(estimate.get('seconds'))}")
    if doc.get("project_id"):
        rows.add("project", _esc(doc["project_id"]))
    if doc.get("poll_url"):
        rows.url("poll url", str(doc["poll_url"]))
    rows.add("next", f"[ok]{_esc(next_command(str(doc.get('run_id'))))}[/]")
    show(console, rows, title="[ok]Run started[/]", style="green")


def render_run(console: Console, doc: Any, next_command: NextCommand = resume_command, *,
               files_note: str | None = None) -> None:
    """A run (GET /runs/{run_id}, `runs wait`): status, progress, outputs, cost, error and
    the files saved by --download. `files_note` is said under output URLs that nothing saved
    (the embedded sandbox's stop with the command)."""
    from rich.markup import escape

    from flora_cli.output.panels import Rows, show

    if not isinstance(doc, dict):  # pragma: no cover - callers validate the shape
        console.print(_esc(repr(doc)))
        return
    status = str(doc.get("status", "unknown"))
    style = STATUS_STYLE.get(status, "")
    rows = Rows()
    rows.add("run id", f"[bold]{_esc(doc.get('run_id', '—'))}[/]")
    rows.add("status", f"[{style}]{_esc(status)}[/]" if style else _esc(status))
    if status != "completed":
        rows.add("progress", _percent(doc.get("progress")))
    for key, label in (("created_at", "created"), ("started_at", "started"),
                       ("completed_at", "ended")):
        when = _when(doc.get(key))
        if when:
            rows.add(label, when)
    if "charged_cost" in doc:
        rows.add("cost", _cost(doc.get("charged_cost")))
    if doc.get("error_code") or doc.get("error_message"):
        code = _esc(doc.get("error_code") or "unknown")
        message = escape(clean(str(doc.get("error_message") or "")))
        rows.add("error", f"[code]{code}[/]" + (f": {message}" if message else ""))

    outputs = doc.get("outputs")
    for item in outputs if isinstance(outputs, list) else []:
        if not isinstance(item, dict):
            continue
        label = f"{clean_line(str(item.get('output_id', '?')))} ({item.get('type', '?')})"
        value = str(item.get("url", ""))
        if item.get("type") == "text":
            preview = value if len(value) <= _TEXT_PREVIEW else value[:_TEXT_PREVIEW] + "…"
            rows.add(label, escape(clean(preview)))
        else:
            rows.url(label, value)

    local_files = doc.get("local_files")
    for item in local_files if isinstance(local_files, list) else []:
        if isinstance(item, dict):
            size = item.get("bytes")
            rows.url(f"saved ({size:,} bytes)" if isinstance(size, int) else "saved",
                     str(item.get("path", "")))

    if status in ACTIVE_STATUSES:
        rows.add("next", f"[ok]{_esc(next_command(str(doc.get('run_id'))))}[/]")
    elif files_note and not local_files and any(
            isinstance(item, dict) and item.get("type") != "text"
            for item in (outputs if isinstance(outputs, list) else [])):
        rows.add("next", _esc(files_note))
    title = {"completed": "Run completed", "failed": "Run failed", "running": "Run running",
             "pending": "Run pending"}.get(status, "Run")
    show(console, rows, title=f"[{style or 'bold'}]{title}[/]", style=style or "white")

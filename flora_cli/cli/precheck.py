"""The pre-spend check on the start commands, in the CLI's words.

`flora_cli.modelcheck` decides; this module finds the model list (the cache, else one
GET /models), names the flag each problem came from, and turns problems into one usage error
(exit 2, nothing sent). When the list cannot be had it prints one notice and lets the request
go: the server decides.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flora_cli import modelcheck
from flora_cli.api.errors import FloraError, UsageError
from flora_cli.textsafe import clean_line

if TYPE_CHECKING:
    from flora_cli.cli.context import App

NOTICE = ("note: the model list could not be read ({reason}); the params were not checked "
          "before sending (the API decides). --no-check skips this step.")


def load_models(app: App, *, offline: bool = False) -> list[dict[str, Any]] | None:
    """The model list from the cache while fresh, else from one GET /models (which refreshes
    the cache); None, after one notice on stderr, when it cannot be had. `offline` (a dry
    run, which sends nothing) reads the cache only."""
    from flora_cli.output.notices import notice

    if not app.settings.api_key:
        notice(app.settings, NOTICE.format(reason="no API key"))
        return None
    from flora_cli.api.discovery import cached_models, fetch_models

    client = app.client()
    models = cached_models(client)
    if models is not None:
        return models
    if offline:
        notice(app.settings, NOTICE.format(
            reason="--dry-run sends nothing and no list is cached; 'flora models list' "
                   "caches it for 10 minutes").replace(" before sending (the API decides)", ""))
        return None
    try:
        return fetch_models(client).models
    except FloraError as exc:
        notice(app.settings, NOTICE.format(reason=clean_line(f"{exc.code}: {exc.message}")))
        return None


def flag_of(issue: modelcheck.Issue, from_pairs: Collection[str]) -> str:
    """The flag (and value) a problem came from: `--param duration=7`, `--model x`."""
    if issue.kind in ("unknown_model", "model_type"):
        return f"--model {issue.model_id}"
    flag = "--param" if issue.name in from_pairs else "--params"
    if issue.kind == "required":
        return f"{flag} {issue.name}"
    return f"{flag} {issue.name}={modelcheck.shown(issue.value)}"


def usage_error(issues: Sequence[modelcheck.Issue], from_pairs: Collection[str]) -> UsageError:
    """One usage error, one line per problem, each naming its flag (`--param duration=7: …`)."""
    lines = [clean_line(f"{flag_of(i, from_pairs)}: {i.describe()}") for i in issues]
    model_id = issues[0].model_id if issues[0].kind not in ("unknown_model",) else None
    see = f"flora models get {model_id}" if model_id else "flora models list"
    return UsageError("\n".join(lines),
                      hint=f"See what the model takes with: {see} (or skip this check with "
                      "--no-check)")


def check_body(app: App, body: Mapping[str, Any], *, from_pairs: Collection[str] = (),
               enabled: bool = True, offline: bool = False) -> dict[str, Any] | None:
    """Check a start request's model and params; raise `UsageError` (exit 2) on a problem.

    Returns the estimate (`{"model_id", "credits", "seconds"}`) when the model is known and
    the list could be had, else None. Nothing is checked (and nothing fetched) when the
    request names no model (the workspace default) or with `--no-check`; `offline` reads
    the cache only.
    """
    model_id = body.get("model")
    if not enabled or not isinstance(model_id, str):
        return None
    models = load_models(app, offline=offline)
    if models is None:
        return None
    params = body.get("params") or {}
    model, issues = modelcheck.check_request(models, model_id, body.get("type"), params)
    if issues:
        raise usage_error(issues, from_pairs)
    assert model is not None
    return modelcheck.estimate(model, params)

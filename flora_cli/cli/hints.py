"""Hints: the words for people that go with an error, chosen where the error is rendered.

`api/` raises errors that carry facts (status, code, run id, attempts made, the delay a server
asked for). This module turns those facts, and what the command knows (which run it started or
asked about, whether the embedded sandbox is in use, the --download DIR), into one hint that is
true: "it was retried" only when it was, a resume command only when it can work, and never
"run the command again" once a run exists (that would start and charge a second run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flora_cli.api import errors as e

#: Hints for the run error codes FLORA documents.
RUN_ERROR_HINTS: dict[str, str] = {
    "model_timeout": "The model timed out; this is usually transient: start the run again.",
    "safety_blocked": "The prompt or inputs were blocked by the safety filter: change them and "
    "start a new run.",
    "input_unreachable": "An input URL could not be fetched: check that it is public and "
    "reachable, then start a new run.",
    "internal_error": "FLORA failed to finish the run; start it again.",
    "provider_error": "The model provider failed to finish the run; start it again.",
}
FAILED_RUN_NOTE = "Failed runs are not charged."

KEY_WHERE = "Keys are created in FLORA under Settings → API Keys"

#: Hints by error code, for errors before any run exists.
CODE_HINTS: dict[str, str] = {
    "missing_api_key": f"Run `flora auth login` once, or set FLORA_API_KEY or pass --api-key. "
    f"{KEY_WHERE}; try --sandbox to use the built-in sandbox without one.",
    "unauthorized": f"Check the key (`flora auth status` says which one was used). {KEY_WHERE}.",
    "invalid_api_key": "The key is malformed, revoked or unknown: create a new one under "
    "Settings → API Keys, then `flora auth login` (or set FLORA_API_KEY).",
    "forbidden": "The key's workspace may not access this resource: check --workspace-id.",
    "not_found": "Check --workspace-id and --project-id: both must exist and belong to the "
    "key's workspace.",
    "insufficient_credits": "The workspace has too few credits for this run: top up in FLORA "
    "(Settings → Billing), then run the command again.",
    "input_validation_error": "Fix the fields named above and run the command again.",
    "invalid_json": "The request body was not valid JSON: check --params and --param.",
    "idempotency_conflict": "This idempotency key was used with a different request: use a new "
    "--idempotency-key (or omit it for a fresh one).",
    "idempotency_duplicate": "This idempotency key was already used: the original request "
    "went through. Omit --idempotency-key to start a new run.",
    "invalid_response": "The API's answer breaks its contract; run again with --debug to see "
    "it, and report it if it persists.",
    "internal_error": "This is a bug in flora-cli. Run again with FLORA_DEBUG=1 for a "
    "traceback to include in a bug report.",
}


@dataclass(frozen=True)
class Situation:
    """What the command knows when an error ends it."""

    run_id: str | None = None
    resume: str | None = None
    asked_run_id: str | None = None
    sandbox: bool = False
    command_path: str | None = None


def _retried(err: e.FloraError) -> str:
    if err.attempts and err.attempts > 1:
        return f"it was tried {err.attempts} times"
    if err.attempts == 1:
        return "it was not retried"
    return ""


def _when(delay: float) -> str:
    try:
        return time.strftime("%H:%M:%S %Z", time.localtime(time.time() + delay)).strip()
    except (OverflowError, OSError, ValueError):  # retry-after: 99999999999999999999
        return "much later"


def _transient(err: e.FloraError, what: str) -> str:
    tried = _retried(err)
    return f"{what}{f' ({tried})' if tried else ''}."


def _after_run(err: e.FloraError, s: Situation) -> str:
    """Once a run exists: what went wrong, then how to pick the run up again."""
    run_id = err.run_id or s.run_id
    first = ""
    if isinstance(err, (e.AuthenticationError, e.PermissionDeniedError)):
        first = "Check the key (FLORA_API_KEY or --api-key); the run is not affected. "
    elif isinstance(err, e.NotFoundError):
        first = f"The API no longer finds run {run_id} for this key. "
    elif isinstance(err, e.DownloadError):
        first = "Files already saved stay. "
    if s.sandbox:
        return (first + "The embedded --sandbox stopped with this command, and its runs with "
                "it: to follow a run across commands, start 'flora sandbox serve' and point "
                "--base-url at the URL it prints.")
    if s.resume:
        return first + f"Resume with: {s.resume}"
    return first + f"Look at it with: flora runs get {run_id}"


def hint_for(err: e.FloraError, s: Situation) -> str | None:
    """The hint shown under an error, or None."""
    if err.hint:  # raised by the CLI layer itself, already worded
        return err.hint
    if isinstance(err, e.RunFailedError):
        base = RUN_ERROR_HINTS.get(err.code, "Check the prompt and parameters, then start a "
                                              "new run.")
        return f"{base} {FAILED_RUN_NOTE}"
    if isinstance(err, e.UsageError):
        if err.run_id or s.run_id:
            return _after_run(err, s)
        return f"See '{s.command_path} --help'." if s.command_path else None
    if err.run_id or s.run_id:
        return _after_run(err, s)
    if isinstance(err, e.LostResponseError):
        return ("Do not run the command again (that would start a second, paid run): look for "
                "the new run in the project's canvas in FLORA.")
    if isinstance(err, e.NotFoundError) and s.asked_run_id:
        return (f"No run {s.asked_run_id} is visible to this key: check the run id, and that "
                "the key belongs to the run's workspace.")
    if err.retry_after is not None and err.retry_after > 60:
        asked = f"{err.retry_after:.0f} s" if err.retry_after < 1e9 else "an absurdly long time"
        when = _when(err.retry_after)
        when = when if when == "much later" else f"after {when}"
        return (f"The server asked to wait {asked}, longer than the CLI waits "
                f"(60 s): try again {when}.")
    if isinstance(err, e.RateLimitError):
        return _transient(err, "Too many requests for this workspace: wait a little and try "
                               "again")
    if isinstance(err, e.APITimeoutError):
        return _transient(err, "The API did not answer in time: raise --timeout or try again "
                               "later")
    if isinstance(err, e.APIConnectionError) and not isinstance(err, e.DownloadError):
        return _transient(err, "Check the network and --base-url")
    if isinstance(err, e.ServerError):
        return _transient(err, f"The service failed (HTTP {err.http_status}): try again later")
    return CODE_HINTS.get(err.code) or CODE_HINTS.get(type(err).default_code)

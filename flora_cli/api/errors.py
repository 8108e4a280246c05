"""The one error hierarchy of flora-cli, with its exit codes.

Errors are raised where they happen and carry facts (status, API error object, request id,
idempotency key, run id, attempts made, the delay a server asked for). They are caught in
exactly one place, the root of the click tree (`flora_cli.cli.handle_error`), which renders
them, words the hint for people (`flora_cli.cli.hints`) and exits with `exit_code`. This module
imports only the standard library so that the CLI can use it at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Exit codes. Kept here as names so code and docs can refer to them.
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_AUTH = 4
EXIT_NOT_FOUND = 5
EXIT_CREDITS = 6
EXIT_RATE_LIMITED = 7
EXIT_IDEMPOTENCY = 8
EXIT_UNREACHABLE = 9
EXIT_RUN_FAILED = 10
EXIT_BATCH_INCOMPLETE = 11
EXIT_WAIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: (exit code, meaning), in order; the README and the man pages are built from it.
EXIT_STATUS_TABLE: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_UNEXPECTED, "unexpected failure: a bug, or a response that breaks the API contract"),
    (EXIT_USAGE, "usage: bad or missing flags, client-side validation; nothing was sent"),
    (EXIT_REJECTED, "the API rejected the input (400 input_validation_error or invalid_json, 422)"),
    (EXIT_AUTH, "authentication or permission: no key, 401, 403"),
    (EXIT_NOT_FOUND, "not found: 404"),
    (EXIT_CREDITS, "insufficient credits: 402"),
    (EXIT_RATE_LIMITED, "rate limited: 429 after the retries, or a retry-after longer than 60 s"),
    (EXIT_IDEMPOTENCY, "idempotency conflict: 409 idempotency_duplicate, 422 idempotency_conflict"),
    (EXIT_UNREACHABLE, "service unreachable: connection failure, timeout, 5xx after the retries"),
    (EXIT_RUN_FAILED, "the run failed (with --wait or runs wait)"),
    (EXIT_BATCH_INCOMPLETE, "a batch (--from-file) ran, but a row was rejected, failed or not "
                            "started"),
    (EXIT_WAIT_TIMEOUT, "--wait-timeout elapsed; the run is still going"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_TERMINATED, "terminated (SIGTERM, e.g. a cancelled CI job); handled like Ctrl-C"),
)


class FloraError(Exception):
    """Base of every error the CLI reports. Carries what the error renderer needs."""

    exit_code: int = EXIT_UNEXPECTED
    default_code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        error: Mapping[str, Any] | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        run_id: str | None = None,
        hint: str | None = None,
        exit_code: int | None = None,
        attempts: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # `error` is the API's error object passed through unchanged when the API sent one.
        self.error: dict[str, Any] = (
            dict(error) if error is not None else {"code": code or self.default_code,
                                                   "message": message}
        )
        self.http_status = http_status
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.run_id = run_id
        #: Set only by the CLI layer, for errors it raises itself; api/ raises facts only.
        self.hint = hint
        #: How many attempts were made (1: it was not retried); None when nothing was sent.
        self.attempts = attempts
        #: The delay the server asked for (retry-after), in seconds, when it asked for one.
        self.retry_after = retry_after
        if exit_code is not None:
            self.exit_code = exit_code

    def about_run(self, run_id: str) -> FloraError:
        """A copy of this error that carries `run_id` (the raised one is left as it was)."""
        import copy

        clone = copy.copy(self)
        clone.run_id = run_id
        return clone

    @property
    def code(self) -> str:
        return str(self.error.get("code", self.default_code))

    def to_document(self) -> dict[str, Any]:
        """The one-line JSON error: keys that do not apply are null; run_id once a run
        exists."""
        doc: dict[str, Any] = {
            "error": self.error,
            "http_status": self.http_status,
            "request_id": self.request_id,
            "idempotency_key": self.idempotency_key,
            "exit_code": self.exit_code,
        }
        if self.run_id is not None:
            doc["run_id"] = self.run_id
        return doc


class UsageError(FloraError):
    """Bad or missing flags; nothing was sent."""

    exit_code = EXIT_USAGE
    default_code = "usage_error"


class MissingApiKeyError(FloraError):
    exit_code = EXIT_AUTH
    default_code = "missing_api_key"


class APIConnectionError(FloraError):
    exit_code = EXIT_UNREACHABLE
    default_code = "connection_error"


class APITimeoutError(APIConnectionError):
    default_code = "timeout"


class InvalidResponseError(FloraError):
    """A response that breaks the API contract: not JSON, or the wrong shape."""

    exit_code = EXIT_UNEXPECTED
    default_code = "invalid_response"


class DownloadError(FloraError):
    """An output could not be saved (after the retries)."""

    exit_code = EXIT_UNREACHABLE
    default_code = "download_failed"


class RunFailedError(FloraError):
    exit_code = EXIT_RUN_FAILED
    default_code = "run_failed"


class WaitTimeoutError(FloraError):
    exit_code = EXIT_WAIT_TIMEOUT
    default_code = "wait_timeout"


class InterruptedError_(FloraError):
    exit_code = EXIT_INTERRUPTED
    default_code = "interrupted"


class TerminatedError(InterruptedError_):
    """SIGTERM (a cancelled CI job, `timeout`): handled exactly like Ctrl-C, exit 143."""

    exit_code = EXIT_TERMINATED
    default_code = "terminated"


class Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler: a KeyboardInterrupt, so every Ctrl-C path (partial
    files removed, displays finalised, the run id kept) serves SIGTERM too."""


class PollFailedError(FloraError):
    """Polling found no good answer for --poll-patience seconds (the run goes on)."""

    exit_code = EXIT_UNREACHABLE
    default_code = "poll_failed"


class APIStatusError(FloraError):
    """The API answered with an error status."""

    default_code = "unknown_error"


class BadRequestError(APIStatusError):
    exit_code = EXIT_REJECTED
    default_code = "input_validation_error"


class AuthenticationError(APIStatusError):
    exit_code = EXIT_AUTH
    default_code = "unauthorized"


class PermissionDeniedError(APIStatusError):
    exit_code = EXIT_AUTH
    default_code = "forbidden"


class NotFoundError(APIStatusError):
    exit_code = EXIT_NOT_FOUND
    default_code = "not_found"


class InsufficientCreditsError(APIStatusError):
    exit_code = EXIT_CREDITS
    default_code = "insufficient_credits"


class IdempotencyConflictError(APIStatusError):
    exit_code = EXIT_IDEMPOTENCY
    default_code = "idempotency_duplicate"


class RateLimitError(APIStatusError):
    exit_code = EXIT_RATE_LIMITED
    default_code = "rate_limited"


class LostResponseError(IdempotencyConflictError):
    """A retry was refused as a duplicate after an earlier attempt may have reached the server
    (no answer, or a 5xx): that attempt most likely started the run."""


class ServerError(APIStatusError):
    exit_code = EXIT_UNREACHABLE
    default_code = "unknown_error"


# 422 codes that are idempotency conflicts (everything else on 422 is input rejection).
_IDEMPOTENCY_CODES = frozenset({"idempotency_duplicate", "idempotency_conflict"})


def error_for_status(
    status: int,
    body: Any,
    *,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    attempts: int | None = None,
    retry_after: float | None = None,
    max_server_delay: float = 60.0,
) -> FloraError:
    """The one status → error mapping. `body` is the decoded JSON body, or None.

    `retry_after` is the server's asked delay; beyond `max_server_delay` the CLI does not wait
    and the error exits as rate limited (7) whatever the status.
    """
    api_error: dict[str, Any] | None = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        api_error = body["error"]
    code = str(api_error.get("code")) if api_error and "code" in api_error else None
    message = (
        str(api_error["message"])
        if api_error and isinstance(api_error.get("message"), str)
        else f"HTTP {status}"
    )

    cls: type[FloraError]
    if status == 402:
        cls = InsufficientCreditsError
    elif status in (401,):
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 409 or (status == 422 and code in _IDEMPOTENCY_CODES):
        cls = IdempotencyConflictError
    elif status == 429:
        cls = RateLimitError
    elif status == 408 or 500 <= status <= 599:
        cls = ServerError
    elif 400 <= status < 500:
        cls = BadRequestError
    else:
        cls = InvalidResponseError
        message = f"unexpected HTTP status {status}"
        api_error = None

    too_long = retry_after is not None and retry_after > max_server_delay
    return cls(
        message,
        error=api_error,
        code=None if api_error else cls.default_code,
        http_status=status,
        request_id=request_id,
        idempotency_key=idempotency_key,
        attempts=attempts,
        retry_after=retry_after,
        exit_code=EXIT_RATE_LIMITED if too_long else None,
    )

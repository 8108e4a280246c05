"""The sandbox's error type: an API error answered in FLORA's envelope."""

from __future__ import annotations

import json
from collections.abc import Sequence

from flora_cli.sandbox.models import ErrorBody, ErrorEnvelope, FieldError

STATUS_MESSAGES: dict[str, str] = {
    "unauthorized": "Invalid API key.",
    "invalid_api_key": "Invalid API key.",
    "forbidden": "Forbidden.",
    "invalid_json": "The request body is not valid JSON.",
    "not_found": "Not found.",
    "insufficient_credits": "Insufficient credits.",
    "idempotency_duplicate": "Duplicate idempotency key.",
    "idempotency_conflict": "This idempotency key was used with a different request body.",
    "rate_limited": "Rate limit exceeded.",
    "unknown_error": "An unknown error occurred.",
    "service_unavailable": "The service is temporarily unavailable.",
}


class ApiError(Exception):
    """Raised by sandbox logic; rendered by the app as `{"error": {code, message, fields?}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        fields: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or STATUS_MESSAGES.get(code, code)
        self.fields = list(fields) if fields else None
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {self.message}")

    def envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(
            error=ErrorBody(code=self.code, message=self.message, fields=self.fields)
        )

    def body(self) -> bytes:
        return json.dumps(self.envelope().to_body(), separators=(",", ":")).encode()


def validation_error(fields: Sequence[FieldError]) -> ApiError:
    """400 `input_validation_error` whose message lists every field, e.g. `prompt: Required`."""
    message = "; ".join(f"{f.field}: {f.message}" for f in fields)
    return ApiError(400, "input_validation_error", message, fields=fields)

"""Request checks exactly as `openapi-runs.yml` says, plus the ID prefix rules.

Bodies are validated with the client's own strict pydantic model (`GenerationRequest`), and
pydantic's errors are reworded in the API's style (zod-like: `Required`, `Expected string,
received number`, ...), one `{field, message}` per rejected field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from flora_cli import vocab
from flora_cli.modelcheck import check_params, find_model
from flora_cli.sandbox.errors import ApiError, validation_error
from flora_cli.sandbox.models import (
    PROJECT_ID_PATTERN,
    RUN_ID_PATTERN,
    WORKSPACE_ID_PATTERN,
    FieldError,
    GenerationRequest,
    MediaType,
)

MEDIA_TYPES: tuple[MediaType, ...] = ("image", "video", "audio", "text")
assert MEDIA_TYPES == vocab.MEDIA_TYPES
_ENUM_TEXT = " | ".join(f"'{t}'" for t in MEDIA_TYPES)
_WS_RE = re.compile(WORKSPACE_ID_PATTERN)
_PRJ_RE = re.compile(PROJECT_ID_PATTERN)
_RUN_RE = re.compile(RUN_ID_PATTERN)

_BODY_FIELDS = ("type", "prompt", "model", "workspace_id", "project_id", "params")


def json_kind(value: Any) -> str:
    """The JSON type name of a decoded value, as the API's messages say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__  # pragma: no cover - json.loads makes only the above


def _shown(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Decode a request body, strictly (no NaN/Infinity); 400 `invalid_json` otherwise."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None


def normalise(value: Any) -> str:
    """A canonical text of a JSON value: what idempotency compares."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _message(error: Mapping[str, Any], raw: Mapping[str, Any]) -> tuple[str, str]:
    loc = tuple(str(part) for part in error["loc"])
    field = ".".join(loc) if loc else "body"
    kind = error["type"]
    given = raw.get(loc[0]) if loc else raw
    if kind == "missing":
        return field, "Required"
    if kind == "extra_forbidden":
        return field, "Unrecognized key"
    if kind == "literal_error":
        text = f"Invalid enum value. Expected {_ENUM_TEXT}, received {_shown(given)}"
        if isinstance(given, str):
            meant = vocab.family_media_type(given) or (
                given.strip().lower() if given.strip().lower() in MEDIA_TYPES else None
            )
            if meant is not None:
                text += f" (did you mean '{meant}'?)"
        return field, text
    if kind == "string_type":
        return field, f"Expected string, received {json_kind(given)}"
    if kind == "string_too_short":
        return field, "String must contain at least 1 character(s)"
    if kind in ("dict_type", "model_type"):
        return field, f"Expected object, received {json_kind(given)}"
    return field, str(error.get("msg", "Invalid value"))  # pragma: no cover - defensive


def validate_generation(body: Any) -> GenerationRequest:
    """Check a decoded POST /runs/generation (or /generate) body; 400 naming every bad field."""
    if not isinstance(body, dict):
        raise validation_error(
            [FieldError(field="body", message=f"Expected object, received {json_kind(body)}")]
        )
    by_field: dict[str, str] = {}
    # `model` and `params` are optional but never nullable in the schema; pydantic's
    # `None` default would let an explicit null through, so reject it here.
    for name, expected in (("model", "string"), ("params", "object")):
        if name in body and body[name] is None:
            by_field[name] = f"Expected {expected}, received null"
    request: GenerationRequest | None = None
    try:
        request = GenerationRequest.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            field, message = _message(error, body)
            by_field.setdefault(field, message)
    # The prefix rules, for any ID that is at least a string.
    for name, pattern, prefix, source in (
        ("workspace_id", _WS_RE, "ws_", "GET /workspaces"),
        ("project_id", _PRJ_RE, "prj_", "GET /projects"),
    ):
        value = body.get(name)
        if isinstance(value, str) and not pattern.match(value) and name not in by_field:
            by_field[name] = (
                f"Must be a public ID that starts with {prefix} and has no whitespace "
                f"(take it from {source})"
            )
    if by_field or request is None:
        order = {name: i for i, name in enumerate(_BODY_FIELDS)}
        fields = sorted(by_field.items(), key=lambda item: order.get(item[0], len(order)))
        raise validation_error([FieldError(field=f, message=m) for f, m in fields])
    return request


def check_run_id(run_id: str) -> None:
    """A run ID path parameter must match `^run_\\S+$`: else 400 naming `run_id`."""
    if not _RUN_RE.match(run_id):
        raise validation_error(
            [FieldError(field="run_id", message="Must match ^run_\\S+$ (e.g. run_abc123)")]
        )


def check_media_type_query(value: str | None) -> MediaType | None:
    if value is None:
        return None
    for media_type in MEDIA_TYPES:
        if value == media_type:
            return media_type
    raise validation_error(
        [
            FieldError(
                field="type",
                message=f"Invalid enum value. Expected {_ENUM_TEXT}, received {_shown(value)}",
            )
        ]
    )


def encode_cursor(offset: int) -> str:
    raw = json.dumps({"offset": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset in an opaque cursor made by `encode_cursor`; 400 naming `cursor` otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        offset = data["offset"]
        if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
            return offset
    except (ValueError, binascii.Error, UnicodeError, KeyError, TypeError, RecursionError):
        pass
    raise validation_error(
        [FieldError(field="cursor", message="Invalid cursor: pass meta.next_cursor unchanged")]
    )


def check_projects_query(query: Mapping[str, str]) -> tuple[str, int | None, int, str | None]:
    """Validate GET /projects' query: (workspace_id, limit, offset, search)."""
    fields: list[FieldError] = []
    workspace_id = query.get("workspace_id")
    if workspace_id is None:
        fields.append(FieldError(field="workspace_id", message="Required"))
    elif not _WS_RE.match(workspace_id):
        fields.append(
            FieldError(field="workspace_id", message="Must match ^ws_\\S+$ (from GET /workspaces)")
        )
    limit: int | None = None
    raw_limit = query.get("limit")
    if raw_limit is not None:
        try:
            limit = int(raw_limit.strip(), 10)
            if not 1 <= limit <= 100:
                raise ValueError
        except ValueError:
            fields.append(FieldError(field="limit", message="Expected an integer from 1 to 100"))
            limit = None
    offset = 0
    cursor = query.get("cursor")
    if cursor:
        try:
            offset = decode_cursor(cursor)
        except ApiError as exc:
            fields.extend(exc.fields or [])
    if fields:
        raise validation_error(fields)
    assert workspace_id is not None
    return workspace_id, limit, offset, query.get("query") or None


# --------------------------------------------------------------------------- model params


def validate_params(params: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """Check `params` against the model's params with the CLI's own pre-spend check
    (`flora_cli.modelcheck`): 400 naming each rejected `params.NAME`."""
    issues = check_params(params, model)
    if issues:
        raise validation_error([FieldError(field=i.field, message=i.api_message())
                                for i in issues])


def resolve_model(models: Sequence[Mapping[str, Any]], model_id: str,
                  media_type: str) -> Mapping[str, Any]:
    """The model a request names, of the request's media type: else 400 naming `model`."""
    model, issues = find_model(models, model_id, media_type)
    if model is None or issues:
        issue = issues[0]
        message = issue.api_message()
        if issue.kind == "unknown_model":
            message = (f"Unknown model {model_id!r}: take a model_id from "
                       f"GET /models?type={media_type}" + (
                           f" (did you mean {', '.join(issue.suggestions)}?)"
                           if issue.suggestions else ""))
        raise validation_error([FieldError(field="model", message=message)])
    return model

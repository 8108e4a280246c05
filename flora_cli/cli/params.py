"""Parameter types: every client-side rule of the start commands, checked before anything is
sent.

Each type raises `click.BadParameter`, which click reports with the flag's name (exit 2).
The pure parsing functions are separate so property tests can drive them directly.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from flora_cli import vocab
from flora_cli.vocab import MEDIA_TYPES

#: A prompt (or --params document) read from a file or stdin is at most this many bytes.
MAX_SOURCE_BYTES = 1024 * 1024


class ParamError(ValueError):
    """A value that breaks a flag's rule; the message says why."""


def check_text(text: str, where: str = "the value") -> str:
    """Local input is checked as strictly as network input: valid UTF-8 (undecodable argv
    bytes arrive as lone surrogates) and no NUL byte."""
    if "\x00" in text:
        raise ParamError(f"{where} holds a NUL byte")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ParamError(f"{where} is not valid UTF-8") from None
    return text


def _read_capped(stream: Any, where: str) -> bytes:
    """At most MAX_SOURCE_BYTES from a file or stdin (so `@/dev/zero` ends at once)."""
    data = stream.read(MAX_SOURCE_BYTES + 1)
    if isinstance(data, str):  # a text stream (tests pass StringIO)
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_SOURCE_BYTES:
        raise ParamError(f"{where} is larger than 1 MiB")
    return bytes(data)


def _decode(data: bytes, where: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParamError(f"{where} is not UTF-8 text") from None
    return check_text(text, where)


def parse_media_type(value: str) -> str:
    norm = value.strip().lower()
    if norm in MEDIA_TYPES:
        return norm
    meant = vocab.family_media_type(value)
    if meant is not None:
        raise ParamError(
            f"{value!r} is a model family, not a media type; did you mean '{meant}'? "
            f"(--type takes one of {', '.join(MEDIA_TYPES)}; pick the model with --model)"
        )
    close = vocab.closest(norm, MEDIA_TYPES)
    guess = f"; did you mean '{close}'?" if close else ""
    raise ParamError(f"{value!r} is not one of {', '.join(MEDIA_TYPES)}{guess}")


def parse_prefixed_id(value: str, prefix: str) -> str:
    check_text(value)
    if not re.fullmatch(rf"{re.escape(prefix)}\S+", value):
        example = f"{prefix}abc123"
        if not value.startswith(prefix):
            raise ParamError(f"{value!r} must start with '{prefix}' (e.g. {example})")
        raise ParamError(f"{value!r} must be '{prefix}' followed by an ID with no whitespace "
                         f"(e.g. {example})")
    return value


def drop_one_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def read_source(value: str, *, stdin_reader: Any = None) -> tuple[str, str]:
    """Resolve `-` (stdin), `@PATH` (a file) and `\\@…` (a literal `@`).

    Returns (text, where) with one trailing newline dropped from stdin or a file.
    """
    if value == "-":
        if stdin_reader is not None:
            stream: Any = stdin_reader
        else:
            stream = getattr(sys.stdin, "buffer", sys.stdin)
        return drop_one_newline(_decode(_read_capped(stream, "stdin"), "stdin")), "stdin"
    if value.startswith("\\@"):
        return check_text(value[1:]), "argument"
    if value.startswith("@"):
        from pathlib import Path

        path = Path(value[1:]).expanduser()
        if not value[1:]:
            raise ParamError("'@' must be followed by a file path (use '\\@' for a literal @)")
        check_text(value[1:], "the file path")
        try:
            with path.open("rb") as fh:
                data = _read_capped(fh, str(path))
        except FileNotFoundError:
            raise ParamError(f"file not found: {path}") from None
        except IsADirectoryError:
            raise ParamError(f"{path} is a directory, not a file") from None
        except OSError as exc:
            raise ParamError(f"cannot read {path}: {exc.strerror or exc}") from None
        return drop_one_newline(_decode(data, str(path))), str(path)
    return check_text(value), "argument"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def parse_prompt(text: str) -> str:
    if not text.strip():
        raise ParamError("must not be empty or blank")
    return text


def parse_params_json(text: str) -> dict[str, Any]:
    from flora_cli.api.body import loads_strict

    try:
        value = loads_strict(text)
    except ValueError as exc:
        raise ParamError(f"is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ParamError(f"must be a JSON object such as '{{\"seed\": 42}}', "
                         f"not {type(value).__name__ if value is not None else 'null'}")
    return value


def parse_key_value(text: str) -> tuple[str, Any]:
    from flora_cli.api.body import loads_strict

    check_text(text)
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ParamError(f"{text!r} must look like KEY=VALUE (e.g. seed=42)")
    try:
        json.loads(raw, parse_constant=lambda name: None)
    except (ValueError, RecursionError):
        return key, raw  # not JSON: a string
    try:
        value: Any = loads_strict(raw)
    except ValueError as exc:
        # NaN, Infinity, 1e999, nesting past 200: JSON-ish, but nothing the API can take.
        raise ParamError(f"{key}: {exc} (quote it as JSON to send a string, e.g. "
                         f"{key}='\"{raw[:20]}\"')") from None
    return key, value


def parse_model_id(value: str) -> str:
    check_text(value)
    if not value or re.search(r"\s", value):
        raise ParamError(f"{value!r} must be a model endpoint ID with no whitespace "
                         "(e.g. t2i-flux-2-pro)")
    return value


def parse_seconds(value: str, minimum: float, *, allow_equal: bool = True) -> float:
    """A finite number of seconds, at least `minimum` (or above it when not `allow_equal`)."""
    try:
        return vocab.parse_seconds(value, minimum=minimum, inclusive=allow_equal)
    except ValueError as exc:
        raise ParamError(str(exc)) from None


def parse_idempotency_key(value: str) -> str:
    if not re.fullmatch(r"[\x21-\x7e]{1,255}", value):
        raise ParamError("must be 1 to 255 printable ASCII characters with no whitespace")
    return value


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_byte_size(value: str) -> int:
    """`4096`, `64k`, `512M`, `4G` (powers of 1024; a trailing `B`/`iB` is allowed)."""
    m = re.fullmatch(r"\s*(\d{1,15}(?:\.\d{1,6})?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", value)
    if not m:
        raise ParamError(f"{value!r} is not a size in bytes (e.g. 4096, 64k, 512M, 4G)")
    size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if size < 1:
        raise ParamError("must be at least 1 byte")
    return size


class _FuncType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A click type that wraps one of the parse functions above."""

    def parse(self, value: str) -> Any:
        raise NotImplementedError

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ParamError as exc:
            self.fail(str(exc), param, ctx)


class MediaTypeParam(_FuncType):
    name = "type"

    def parse(self, value: str) -> str:
        return parse_media_type(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(t) for t in MEDIA_TYPES if t.startswith(incomplete.lower())]


class PrefixedId(_FuncType):
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.name = f"{prefix}ID"

    def parse(self, value: str) -> str:
        return parse_prefixed_id(value, self.prefix)

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[Any]:
        from flora_cli.cli import idcomplete

        if self.prefix == "ws_":
            return idcomplete.complete_workspace(ctx, incomplete)
        if self.prefix == "prj_":
            return idcomplete.complete_project(ctx, incomplete)
        return []


class _SourceType(_FuncType):
    """A value that may be read from stdin ('-'): only one option may do that."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "-" and ctx is not None:
            flag = param.opts[0] if param is not None and param.opts else "another option"
            used = ctx.meta.get("flora.stdin_reader")
            if used is not None and used != flag:
                self.fail(f"stdin is already read by {used}; only one option can be '-'",
                          param, ctx)
            ctx.meta["flora.stdin_reader"] = flag
            if not ctx.resilient_parsing and _isatty(sys.stdin):
                # Otherwise the command would wait in silence for input from the terminal.
                sys.stderr.write(f"reading {flag} from stdin; end with Ctrl-D\n")
                sys.stderr.flush()
        return super().convert(value, param, ctx)


class PromptParam(_SourceType):
    """`TEXT`, `-` (stdin), `@PATH` (file), `\\@…` (literal @)."""

    name = "text"

    def parse(self, value: str) -> str:
        text, _ = read_source(value)
        return parse_prompt(text)


class ParamsParam(_SourceType):
    name = "json"

    def parse(self, value: str) -> dict[str, Any]:
        text, _ = read_source(value)
        return parse_params_json(text)


class KeyValueParam(_FuncType):
    name = "key=value"

    def parse(self, value: str) -> tuple[str, Any]:
        return parse_key_value(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[Any]:
        from flora_cli.cli import idcomplete

        return idcomplete.complete_param(ctx, incomplete)


class ModelIdParam(_FuncType):
    name = "model"

    def parse(self, value: str) -> str:
        return parse_model_id(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[Any]:
        from flora_cli.cli import idcomplete

        return idcomplete.complete_model(ctx, incomplete)


class IdempotencyKeyParam(_FuncType):
    name = "key"

    def parse(self, value: str) -> str:
        return parse_idempotency_key(value)


class SecondsParam(_FuncType):
    name = "seconds"

    def __init__(self, minimum: float, *, allow_equal: bool = True) -> None:
        self.minimum = minimum
        self.allow_equal = allow_equal

    def parse(self, value: str) -> float:
        return parse_seconds(value, self.minimum, allow_equal=self.allow_equal)


class ByteSizeParam(_FuncType):
    name = "bytes"

    def parse(self, value: str) -> int:
        return parse_byte_size(value)


MEDIA_TYPE = MediaTypeParam()
PROJECT_ID = PrefixedId("prj_")
WORKSPACE_ID = PrefixedId("ws_")
RUN_ID = PrefixedId("run_")
PROMPT = PromptParam()
PARAMS = ParamsParam()
KEY_VALUE = KeyValueParam()
MODEL_ID = ModelIdParam()
IDEMPOTENCY_KEY = IdempotencyKeyParam()
#: --poll-interval: at least 0.5 s; --wait-timeout: any positive number of seconds.
POLL_INTERVAL = SecondsParam(0.5)
WAIT_TIMEOUT = SecondsParam(0.0, allow_equal=False)
POLL_PATIENCE = SecondsParam(0.0, allow_equal=False)
BYTE_SIZE = ByteSizeParam()

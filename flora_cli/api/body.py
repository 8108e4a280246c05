"""Reading response bodies as untrusted input: size caps, bounded decompression,
JSON shape caps. Standard library only; the client's transport loop drives it.

- `Decoder` undoes a `Content-Encoding` (identity, gzip, deflate) while streaming, never
  producing more than it is asked for, so a gzip bomb costs at most the cap.
- `decode_json` refuses what is not plain JSON: bad UTF-8, `NaN`/`Infinity` (and numbers that
  overflow to infinity), nesting deeper than `MAX_JSON_DEPTH`, lone surrogates.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

#: An API JSON response is read up to this many bytes (after decompression).
MAX_JSON_BYTES = 16 * 1024 * 1024
#: JSON nested deeper than this is refused (both from the network and from local input).
MAX_JSON_DEPTH = 200
#: Decoded output is produced in pieces of at most this size.
CHUNK = 64 * 1024


class BodyError(Exception):
    """A body that cannot be accepted; `retryable` when another attempt may do better
    (a truncated stream) rather than never (a body over the cap, an unknown encoding)."""

    def __init__(self, reason: str, *, retryable: bool = False, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.too_large = too_large


class Decoder:
    """Streaming, bounded undoing of one `Content-Encoding`."""

    def __init__(self, encoding: str | None) -> None:
        enc = (encoding or "").strip().lower()
        if enc in ("", "identity"):
            self.kind = "identity"
        elif enc in ("gzip", "x-gzip"):
            self.kind = "gzip"
        elif enc == "deflate":
            self.kind = "deflate"
        else:
            raise BodyError(f"unsupported Content-Encoding {enc[:40]!r}")
        self._z: Any = self._new()
        self._first = True

    def _new(self) -> Any:
        if self.kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.kind == "deflate":
            return zlib.decompressobj(zlib.MAX_WBITS)
        return None

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, in pieces of at most CHUNK bytes."""
        if self._z is None:
            for i in range(0, len(data), CHUNK):
                yield data[i:i + CHUNK]
            return
        while data:
            try:
                out = self._z.decompress(data, CHUNK)
            except zlib.error as exc:
                if self.kind == "deflate" and self._first:
                    # Some servers send raw deflate without the zlib wrapper.
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first = False
                    continue
                raise BodyError(f"the {self.kind} stream is corrupt ({exc})") from None
            self._first = False
            if out:
                yield out
            if self._z.eof:
                rest = self._z.unused_data
                if not rest.strip(b"\0"):
                    data = b""
                    break
                # gzip allows members one after another.
                self._z = self._new()
                data = rest
                continue
            data = self._z.unconsumed_tail

    def finish(self) -> None:
        """Raise BodyError when a compressed stream ended before its end marker."""
        if self._z is not None and not self._z.eof:
            raise BodyError(f"the {self.kind} stream is truncated", retryable=True)


def decode_json(content: bytes) -> Any:
    """The JSON document in `content`; ValueError (with a reason) when it is not plain JSON."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte {exc.start})") from None
    try:
        doc = _strict_loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    check_shape(doc)
    return doc


def loads_strict(text: str) -> Any:
    """`json.loads` with the same refusals as `decode_json` (for local input)."""
    try:
        doc = _strict_loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_shape(doc)
    return doc


def _strict_loads(text: str) -> Any:
    """`json.loads(text, parse_constant=…, parse_float=…)` with one decoder made once (json.loads
    builds a new one per call when given hooks: ~5 µs of every response)."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    decoder = _DECODER
    if decoder is None:
        decoder = _make_decoder()
    return decoder.decode(text)


_DECODER: json.JSONDecoder | None = None


def _make_decoder() -> json.JSONDecoder:
    global _DECODER
    _DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
    return _DECODER


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]}… overflows to infinity")
    return value


def check_shape(doc: Any) -> None:
    """Depth at most MAX_JSON_DEPTH; every string encodable as UTF-8 (no lone surrogates)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for key, value in node.items():
                _check_text(key)
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))
                elif isinstance(value, str):
                    _check_text(value)
        elif isinstance(node, list):
            for value in node:
                if isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))
                elif isinstance(value, str):
                    _check_text(value)
        elif isinstance(node, str):
            _check_text(node)


def _check_text(value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate (not Unicode text)") from None

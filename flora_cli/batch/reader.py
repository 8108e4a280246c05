"""Rows of a batch file: JSONL or CSV, defaults from flags, every row validated.

The file is read twice: once to validate every row and hash the content (the batch id), once
to send. Neither pass keeps rows in memory, so memory does not grow with the number of rows;
stdin (`-`) is spooled to a temporary file first so it can be read twice.

Standard library only (plus the pure parse functions of `cli.params`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from flora_cli.api.body import loads_strict
from flora_cli.cli.params import (
    ParamError,
    parse_media_type,
    parse_model_id,
    parse_prefixed_id,
)

#: The body fields a row may carry, plus its own `id`.
BODY_FIELDS = ("type", "prompt", "workspace_id", "project_id", "model", "params")
ROW_FIELDS = ("id", *BODY_FIELDS)
REQUIRED = ("type", "prompt", "workspace_id", "project_id")
PARAM_PREFIX = "param."
MAX_PROMPT_BYTES = 1 << 20
MAX_LINE_BYTES = 4 << 20
MAX_DEPTH = 200
MAX_ID_CHARS = 200
#: How many bad rows the usage error lists.
MAX_REPORTED = 20


class BatchInputError(Exception):
    """The file cannot be used at all, or some rows are bad: exit 2, nothing sent."""

    def __init__(self, message: str, problems: list[Problem] | None = None,
                 total_bad: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        self.total_bad = total_bad


@dataclass(frozen=True)
class Problem:
    """One bad field of one row (or of the file), as the usage error lists it."""

    row: int  # the data row number (from 1); 0 for the file or the CSV header
    line: int  # the line in the file
    field: str
    reason: str

    def to_document(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class Row:
    """A valid row: its number, line, own `id` and the request body to send."""

    number: int  # from 1, in file order
    line: int
    id: str | None
    body: dict[str, Any]

    @property
    def label(self) -> str:
        """What identifies the row in its derived key: its `id`, else `#NUMBER`."""
        return self.id if self.id is not None else f"#{self.number}"


@dataclass(frozen=True)
class Defaults:
    """Flags and profile values used for the fields a row leaves out."""

    type: str | None = None
    prompt: str | None = None
    workspace_id: str | None = None
    project_id: str | None = None
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Shard:
    """`--shard K/N`: the rows this process runs."""

    index: int  # K, from 1
    count: int  # N

    def takes(self, number: int) -> bool:
        return (number - 1) % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    """`K/N` with 1 ≤ K ≤ N."""
    k, sep, n = text.strip().partition("/")
    try:
        index, count = int(k), int(n)
    except ValueError:
        raise ParamError(f"{text!r} must look like K/N, e.g. 1/4") from None
    if not sep or count < 1 or not 1 <= index <= count:
        raise ParamError(f"{text!r} must be K/N with 1 <= K <= N (e.g. 1/4 … 4/4)")
    return Shard(index, count)


def parse_batch_id(text: str) -> str:
    if not (1 <= len(text) <= 64) or not all("\x21" <= c <= "\x7e" for c in text):
        raise ParamError("must be 1 to 64 printable ASCII characters with no whitespace")
    return text


# -- the source file -----------------------------------------------------------------------


class Source:
    """A seekable binary copy of the batch file (stdin is spooled to a temporary file)."""

    def __init__(self, path: str, stdin: IO[bytes] | None = None) -> None:
        self.name = "stdin" if path == "-" else path
        self._owned: IO[bytes] | None = None
        if path == "-":
            import shutil
            import tempfile

            spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            shutil.copyfileobj(stdin if stdin is not None else sys.stdin.buffer, spool)
            self._owned = spool
            self.kind = ""
        else:
            try:
                self._owned = open(path, "rb")  # noqa: SIM115 (closed by close())
            except FileNotFoundError:
                raise BatchInputError(f"--from-file: file not found: {path}") from None
            except IsADirectoryError:
                raise BatchInputError(f"--from-file: {path} is a directory") from None
            except OSError as exc:
                raise BatchInputError(f"--from-file: cannot read {path}: "
                                      f"{exc.strerror or exc}") from None
            lower = path.lower()
            self.kind = ("csv" if lower.endswith(".csv") else
                         "jsonl" if lower.endswith((".jsonl", ".ndjson", ".json")) else "")
        try:
            self.kind = self._sniff()
        except BatchInputError:
            self.close()
            raise

    def _sniff(self) -> str:
        """By the file's extension (.csv; .jsonl, .ndjson, .json), else by its first byte:
        `{` is JSONL, anything else CSV."""
        f = self.stream()
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head:
            raise BatchInputError(f"--from-file: {self.name} is empty: no rows to run.")
        if head.startswith(b"[") and self.kind != "csv":
            raise BatchInputError(
                f"--from-file: {self.name} holds a JSON array; write one JSON object per "
                "line (JSONL) instead.")
        if self.kind:
            return self.kind
        return "jsonl" if head.startswith(b"{") else "csv"

    def stream(self) -> IO[bytes]:
        assert self._owned is not None
        self._owned.seek(0)
        return self._owned

    def content_hash(self) -> str:
        h = hashlib.sha256()
        f = self.stream()
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
        return h.hexdigest()

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- raw records ---------------------------------------------------------------------------

RawRecord = tuple[int, int, "dict[str, Any] | Problem"]  # (row number, line, fields or problem)


def _utf8_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text None when the line is not UTF-8 or too long."""
    for number, raw in enumerate(stream, start=1):
        if len(raw) > MAX_LINE_BYTES:
            yield number, None
            continue
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def _jsonl_records(stream: IO[bytes]) -> Iterator[RawRecord]:
    row = 0
    for line, text in _utf8_lines(stream):
        if text is not None and not text.strip():
            continue  # blank lines are not rows
        row += 1
        if text is None:
            yield row, line, Problem(row, line, "(line)", "not UTF-8 text, or over 4 MiB")
            continue
        try:
            value = loads_strict(text)
        except ValueError as exc:
            yield row, line, Problem(row, line, "(line)", f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            kind = "null" if value is None else type(value).__name__
            yield row, line, Problem(row, line, "(line)",
                                     f"must be a JSON object, not {kind}")
            continue
        yield row, line, value


class _LineCounter:
    """A text stream over bytes that counts physical lines (CSV fields may span lines)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._lines = _utf8_lines(stream)
        self.line = 0
        self.bad_line: int | None = None

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        number, text = next(self._lines)
        self.line = number
        if text is None:
            self.bad_line = number
            return "\n"
        return text


def _csv_records(stream: IO[bytes], name: str) -> Iterator[RawRecord]:
    counter = _LineCounter(stream)
    reader = csv.reader(counter)
    header: list[str] | None = None
    row = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row += 1
            yield row, counter.line, Problem(row, counter.line, "(line)", f"bad CSV: {exc}")
            continue
        if header is None:
            if not cells or all(not c.strip() for c in cells):
                continue
            header = [c.strip() for c in cells]
            _check_header(header, name)
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        row += 1
        line = counter.line
        if counter.bad_line is not None:
            yield row, line, Problem(row, counter.bad_line, "(line)", "not UTF-8 text")
            counter.bad_line = None
            continue
        if len(cells) != len(header):
            yield row, line, Problem(row, line, "(line)",
                                     f"has {len(cells)} cells; the header has {len(header)}")
            continue
        yield row, line, _csv_fields(header, cells, row, line)
    if header is None:
        raise BatchInputError(f"--from-file: {name} has no header row and no rows.")


def _check_header(header: list[str], name: str) -> None:
    known = set(ROW_FIELDS)
    unknown = [h for h in header if h not in known and not
               (h.startswith(PARAM_PREFIX) and len(h) > len(PARAM_PREFIX))]
    if not any(h in known or h.startswith(PARAM_PREFIX) for h in header):
        raise BatchInputError(
            f"--from-file: {name} has no CSV header: the first line must name the columns "
            f"({', '.join(ROW_FIELDS)}, param.NAME), e.g. 'id,type,prompt'.")
    if unknown:
        raise BatchInputError(
            f"--from-file: {name}: unknown column(s) {', '.join(repr(u) for u in unknown)}; "
            f"known: {', '.join(ROW_FIELDS)} and param.NAME.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise BatchInputError(f"--from-file: {name}: column(s) named twice: {', '.join(dupes)}")


def _csv_fields(header: list[str], cells: list[str], row: int,
                line: int) -> dict[str, Any] | Problem:
    fields: dict[str, Any] = {}
    param_cells: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell == "":
            continue  # an empty cell is an absent field: the default applies
        if name.startswith(PARAM_PREFIX):
            try:
                value: Any = loads_strict(cell)
            except ValueError:
                value = cell
            param_cells[name[len(PARAM_PREFIX):]] = value
        elif name == "params":
            try:
                fields["params"] = loads_strict(cell)
            except ValueError as exc:
                return Problem(row, line, "params", f"not valid JSON: {exc}")
        else:
            fields[name] = cell
    if param_cells:
        base = fields.get("params", {})
        if not isinstance(base, dict):
            return Problem(row, line, "params", "must be a JSON object")
        fields["params"] = {**base, **param_cells}
    return fields


# -- validation ----------------------------------------------------------------------------


def _depth_ok(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(_depth_ok(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth_ok(v, depth + 1) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


Checker = Callable[[dict[str, Any]], "list[tuple[str, str]]"]

_PARSERS: dict[str, Callable[[str], str]] = {
    "type": parse_media_type,
    "workspace_id": lambda value: parse_prefixed_id(value, "ws_"),
    "project_id": lambda value: parse_prefixed_id(value, "prj_"),
}
#: Valid (field, value) pairs seen and what they parse to: most rows repeat the defaults'
#: type, workspace and project. Bounded, so memory does not grow with the rows.
_PARSED: dict[tuple[str, str], str] = {}
_PARSED_MAX = 256


def _parsed(name: str, value: str) -> str:
    """`_PARSERS[name](value)`, remembered for valid values (a ParamError is not)."""
    key = (name, value)
    known = _PARSED.get(key)
    if known is None:
        known = _PARSERS[name](value)
        if len(_PARSED) < _PARSED_MAX:
            _PARSED[key] = known
    return known


def build_row(number: int, line: int, fields: dict[str, Any], defaults: Defaults,
              check: Checker | None = None) -> Row | list[Problem]:
    """The row's body with defaults applied, or every problem found in it."""
    problems: list[Problem] = []

    def bad(name: str, reason: str) -> None:
        problems.append(Problem(number, line, name, reason))

    unknown = [k for k in fields if k not in ROW_FIELDS]
    if unknown:
        bad(unknown[0] if len(unknown) == 1 else "(fields)",
            f"unknown field(s) {', '.join(repr(u) for u in unknown)}; known: "
            f"{', '.join(ROW_FIELDS)}")
    row_id: str | None = None
    if "id" in fields and fields["id"] is not None:
        raw_id = fields["id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            bad("id", "must be a string or a whole number")
        else:
            row_id = str(raw_id)
            if not row_id.strip() or len(row_id) > MAX_ID_CHARS or "\x00" in row_id:
                bad("id", f"must be 1 to {MAX_ID_CHARS} characters")
    body: dict[str, Any] = {}
    for name in REQUIRED:
        value = fields.get(name)
        if value is None:
            value = getattr(defaults, name)
        if value is None:
            flag = "--" + name.replace("_", "-")
            bad(name, f"missing (give it in the row or with {flag})")
            continue
        if not isinstance(value, str):
            bad(name, "must be a string")
            continue
        try:
            if name == "prompt":
                if not value.strip():
                    raise ParamError("must not be empty or blank")
                if "\x00" in value:
                    raise ParamError("must not contain a NUL byte")
                if len(value.encode("utf-8", "surrogatepass")) > MAX_PROMPT_BYTES:
                    raise ParamError("is over 1 MiB")
            else:
                value = _parsed(name, value)
        except ParamError as exc:
            bad(name, str(exc))
            continue
        body[name] = value
    model = fields.get("model", defaults.model)
    if model is not None:
        if not isinstance(model, str):
            bad("model", "must be a string")
        else:
            try:
                body["model"] = parse_model_id(model)
            except ParamError as exc:
                bad("model", str(exc))
    params = fields.get("params")
    if params is not None and not isinstance(params, dict):
        bad("params", "must be a JSON object such as {\"seed\": 42}")
    elif params is not None or defaults.params:
        merged = {**defaults.params, **(params or {})}
        if not _depth_ok(merged):
            bad("params", f"nested deeper than {MAX_DEPTH} levels or holds NaN/Infinity")
        else:
            body["params"] = merged
    if not problems and check is not None:
        for name, reason in check(body):
            bad(name, reason)
    return problems if problems else Row(number, line, row_id, body)


# -- reading -------------------------------------------------------------------------------


def records(source: Source) -> Iterator[RawRecord]:
    stream = source.stream()
    if source.kind == "csv":
        return _csv_records(stream, source.name)
    return _jsonl_records(stream)


@dataclass
class Summary:
    """What the validation pass learnt: row count, bad rows, the batch's content hash."""

    rows: int
    content_hash: str


def validate(source: Source, defaults: Defaults, *, check: Checker | None = None) -> Summary:
    """Read every row once; raise BatchInputError listing up to 20 bad rows if any is bad.

    Row ids must be unique in the file (their hashes are kept, 8 bytes a row).
    """
    problems: list[Problem] = []
    bad_rows = 0
    seen_ids: dict[bytes, int] = {}
    count = 0
    for number, line, rec in records(source):
        count = number
        result: Row | list[Problem]
        if isinstance(rec, Problem):
            result = [rec]
        else:
            result = build_row(number, line, rec, defaults, check)
        if isinstance(result, Row) and result.id is not None:
            digest = hashlib.blake2b(result.id.encode("utf-8", "surrogatepass"),
                                     digest_size=8).digest()
            first = seen_ids.get(digest)
            if first is not None:
                result = [Problem(number, line, "id",
                                  f"{result.id!r} is also the id of row {first}")]
            else:
                seen_ids[digest] = number
        if isinstance(result, list):
            bad_rows += 1
            room = MAX_REPORTED - len(problems)
            problems.extend(result[:max(0, room)])
    if count == 0:
        raise BatchInputError(f"--from-file: {source.name} has no rows to run.")
    if bad_rows:
        shown = len({p.row for p in problems})
        more = f" (the first {shown} shown)" if bad_rows > shown else ""
        raise BatchInputError(
            f"--from-file: {bad_rows} of {count} row(s) in {source.name} are bad{more}; "
            "nothing was sent.", problems, bad_rows)
    return Summary(rows=count, content_hash=source.content_hash())


def rows(source: Source, defaults: Defaults, shard: Shard | None = None) -> Iterator[Row]:
    """The rows again, for sending (already validated), filtered to the shard."""
    for number, line, rec in records(source):
        if shard is not None and not shard.takes(number):
            continue
        if isinstance(rec, Problem):  # pragma: no cover - validate() refused these
            raise BatchInputError(f"row {number} changed while the batch ran")
        result = build_row(number, line, rec, defaults)
        if isinstance(result, list):  # pragma: no cover - as above
            raise BatchInputError(f"row {number} changed while the batch ran")
        yield result


def text_stream(data: bytes) -> IO[bytes]:
    """Bytes as a stream (tests)."""
    return io.BytesIO(data)

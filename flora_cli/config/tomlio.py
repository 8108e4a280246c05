"""Reading TOML files safely, and writing any file atomically with a chosen mode.

Reading: a file that does not exist is `None` (the caller checks with one `stat` first, so the
TOML parser loads only when there is something to parse); anything else that cannot be used —
a directory, a FIFO, more than 1 MiB, not UTF-8, malformed TOML — is a `ConfigError` (exit 2)
naming the file, and for malformed TOML its line and column (`PATH:LINE:COL: message`).

Writing: a temporary file in the same directory, created with the final mode (`O_EXCL`, so no
other file is followed or reused), written, flushed to disk, then renamed over the target. A
failure at any step removes the temporary file, so the target is either the old file or the
whole new one, and never readable by others in between.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
from typing import Any

from flora_cli.config.errors import ConfigError
from flora_cli.config.smallfile import SmallFileProblem, read_small

_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def read_text(path: str, *, what: str, fd: int | None = None) -> str:
    """The text of a small regular file (the fd, when the caller opened it already)."""
    try:
        data = read_small(path, fd=fd)
    except SmallFileProblem as problem:
        raise _unusable(problem, path, what) from None
    return _decode(data, path, what)


def _unusable(problem: SmallFileProblem, path: str, what: str) -> ConfigError:
    return ConfigError({
        "directory": f"{what} {path} is a directory, not a file",
        "special": f"{what} {path} is not a regular file",
        "large": f"{what} {path} is larger than 1 MiB; it cannot be a flora file",
    }.get(problem.kind, f"cannot read {what} {path}: {problem.detail}"))


def _decode(data: bytes, path: str, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: {what} is not UTF-8 text") from None


def _parser() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    return tomllib


def parse_toml(text: str, path: str, *, what: str) -> dict[str, Any]:
    """A TOML document as a dict; malformed TOML is `PATH:LINE:COL: message` (exit 2)."""
    tomllib = _parser()
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        m = _AT.search(message)
        if m is not None:
            line, col = int(m.group(1)), int(m.group(2))
            message = message[: m.start()]
        elif _AT_END.search(message):
            line = text.count("\n") + 1
            col = len(text) - text.rfind("\n")
            message = _AT_END.sub("", message)
        message = getattr(exc, "msg", None) or message
        where = f"{path}:{line}:{col}" if line is not None else path
        from flora_cli.textsafe import clean_line

        raise ConfigError(f"{where}: {what} is not valid TOML: {clean_line(message)}") from None
    return doc


def read_toml(path: str, *, what: str) -> dict[str, Any] | None:
    """The parsed file, or None when it does not exist."""
    try:
        data = read_small(path)
    except SmallFileProblem as problem:
        if problem.kind == "missing":
            return None
        raise _unusable(problem, path, what) from None
    return parse_toml(_decode(data, path, what), path, what=what)


def ensure_dir(path: str) -> None:
    """Create the config dir (mode 0700) and its parents when missing."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the config dir {path}: {exc.strerror or exc}") from None
    if not os.path.isdir(path):
        raise ConfigError(f"the config dir {path} is not a directory")


def write_atomic(path: str, text: str, *, mode: int) -> None:
    """Replace `path` with `text` atomically; the new file has exactly `mode`."""
    directory = os.path.dirname(path) or "."
    ensure_dir(directory)
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a directory, not a file")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)  # whatever the umask
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def file_mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None

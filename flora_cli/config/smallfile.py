"""Reading a small regular file, for the config, credentials and key files alike.

One reader so the rules cannot drift apart: opened without blocking (a FIFO does not hang the
command), refused unless it is a regular file, read to at most 1 MiB. What went wrong is
raised as a `SmallFileProblem` whose `kind` each caller words for its own file.
"""

from __future__ import annotations

import os
import stat

MAX_FILE_BYTES = 1 << 20


class SmallFileProblem(Exception):
    """`kind`: missing, directory, special (not a regular file), large, unreadable; `detail`:
    the system's reason (strerror) for missing and unreadable."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


def read_small(path: str, *, fd: int | None = None) -> bytes:
    """The bytes of a regular file of at most 1 MiB (`fd`: the caller opened it already)."""
    try:
        if fd is None:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise SmallFileProblem("directory" if stat.S_ISDIR(st.st_mode) else "special")
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise SmallFileProblem("missing", exc.strerror or str(exc)) from None
    except IsADirectoryError:
        raise SmallFileProblem("directory") from None
    except OSError as exc:
        raise SmallFileProblem("unreadable", exc.strerror or str(exc)) from None
    if len(data) > MAX_FILE_BYTES:
        raise SmallFileProblem("large")
    return data

"""A real interactive shell on a pseudo-terminal, for completion tests that press TAB."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class PtyShell:
    def __init__(self, master: int) -> None:
        self.master = master

    def send(self, data: str, until: bytes, seconds: float = 30) -> str:
        """Type `data`; what the terminal showed until `until` appeared (or `seconds`)."""
        seen = b""
        os.write(self.master, data.encode())
        end = time.monotonic() + seconds
        while time.monotonic() < end and until not in seen:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(self.master, 65536)
                except OSError:
                    break
        return seen.decode(errors="replace")


def screen_line(output: str) -> str:
    """The last line of `output` as a terminal shows it: escape sequences dropped, backspace
    and carriage return applied, trailing blanks removed."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output).split("\n")[-1]
    cells: list[str] = []
    pos = 0
    for char in text:
        if char == "\b":
            pos = max(pos - 1, 0)
        elif char == "\r":
            pos = 0
        else:
            cells[pos:pos + 1] = [char]
            pos += 1
    return "".join(cells).rstrip()


@contextmanager
def pty_shell(argv: list[str], env: Mapping[str, str]) -> Iterator[PtyShell]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=dict(env),
                            start_new_session=True)
    os.close(slave)
    try:
        yield PtyShell(master)
    finally:
        proc.kill()
        proc.wait(10)
        os.close(master)

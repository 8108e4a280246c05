"""Running the CLI against a hostile server: in process (CliRunner) or as a real subprocess,
timed, with the checks of `rawserver.check_outputs` applied to every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from flora_cli.cli import cli
from tests.hostile.rawserver import SECRET, RawServer, check_outputs


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    def error(self) -> Any:
        return json.loads(self.stderr.strip().splitlines()[-1])

    def json(self) -> Any:
        return json.loads(self.stdout)


def flora(args: list[str], *, env: Mapping[str, str] | None = None,
          input: str | bytes | None = None) -> Result:
    started = time.monotonic()
    result = CliRunner().invoke(cli, args, env=dict(env or {}), input=input,
                                catch_exceptions=False)
    out = Result(result.exit_code, result.stdout, result.stderr, time.monotonic() - started)
    check_outputs(out.stdout, out.stderr, out.exit_code, json_stdout="pretty" not in args)
    return out


def flora_process(args: list[str], *, env: Mapping[str, str] | None = None,
                  input: bytes | None = None, timeout: float = 60) -> Result:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "flora_cli", *args],
                          env={**os.environ, **(env or {})}, input=input,
                          capture_output=True, timeout=timeout)
    out = Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                 proc.stderr.decode("utf-8", "replace"), time.monotonic() - started)
    check_outputs(out.stdout, out.stderr, out.exit_code)
    return out


# Runs the CLI and writes its own peak RSS (VmHWM, KiB) to the file named by argv[1] at exit.
# VmHWM belongs to the process image started by exec: unlike the children's ru_maxrss seen by
# the test process, it does not include the pages of the (large) pytest process it was
# spawned from.
_PEAK_RSS_WRAPPER = """
import atexit, sys
def _report(path=sys.argv[1]):
    with open("/proc/self/status") as status, open(path, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_report)
sys.argv = ["flora", *sys.argv[2:]]
from flora_cli.cli import main
main()
"""


def flora_peak_rss(args: list[str], report: str, *, timeout: float = 60) -> tuple[Result, int]:
    """`flora_process`, and the CLI's own peak RSS in KiB (Linux only)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS_WRAPPER, report, *args],
                          env=dict(os.environ), capture_output=True, timeout=timeout)
    out = Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                 proc.stderr.decode("utf-8", "replace"), time.monotonic() - started)
    check_outputs(out.stdout, out.stderr, out.exit_code)
    with open(report) as f:
        return out, int(f.read())


def api(srv: RawServer | str, *more: str) -> list[str]:
    base = srv if isinstance(srv, str) else srv.base_url
    return ["--api-key", SECRET, "--base-url", base, *more]


START = ["generations", "create", "--workspace-id", "ws_1", "--project-id", "prj_1",
         "--type", "image", "--prompt", "a mug", "--no-check"]


def start(srv: RawServer | str, *more: str) -> list[str]:
    return [*api(srv), *START, "--json", *more]

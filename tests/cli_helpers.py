"""Running the CLI in tests: in-process (CliRunner) and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from flora_cli.cli import cli

SECRET = "sk_test_TOPSECRET0123456789"


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> Any:
        """The JSON error document: the last line of stderr."""
        return json.loads(self.stderr.strip().splitlines()[-1])


def run(args: list[str], *, env: Mapping[str, str] | None = None,
        input: str | None = None) -> Outcome:
    runner = CliRunner()
    result = runner.invoke(cli, args, env=dict(env or {}), input=input, catch_exceptions=False)
    outcome = Outcome(result.exit_code, result.stdout, result.stderr)
    assert SECRET not in outcome.stdout + outcome.stderr
    return outcome


def run_process(args: list[str], *, env: Mapping[str, str] | None = None,
                input: str | None = None, timeout: float = 60) -> Outcome:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "flora_cli", *args], env=full_env,
                          input=input, capture_output=True, text=True, timeout=timeout)
    outcome = Outcome(proc.returncode, proc.stdout, proc.stderr)
    assert SECRET not in outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stderr
    return outcome

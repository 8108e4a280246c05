"""Ctrl-C during a wait, in a real subprocess (`python -m flora_cli …`): exit 130, the run id
and the resume command on stderr, no traceback, nothing on stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _interrupt_after_first_status(args: list[str]) -> tuple[int, str, str]:
    """Start the CLI, wait for its first status line on stderr, send SIGINT."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flora_cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    killer = threading.Timer(30, proc.kill)  # never hang the suite
    killer.start()
    try:
        assert proc.stderr is not None
        head: list[str] = []
        for line in proc.stderr:
            head.append(line)
            if line.startswith("run run_") and ": pending" in line:
                break
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=20)
    finally:
        killer.cancel()
    return proc.returncode, stdout, "".join(head) + rest


@pytest.mark.parametrize("how", ["runs wait", "create --wait", "create --download"])
def test_sigint_during_a_wait_exits_130_with_the_resume_hint(
    make_sandbox: Callable[..., RunningSandbox], how: str, tmp_path: Path
) -> None:
    slow = make_sandbox(speed=0.01)  # the run stays pending for a long time
    api = ["--base-url", slow.base_url, "--api-key", SECRET]
    start = ["generations", "create", "--workspace-id", slow.workspace_id, "--project-id",
             slow.project_id, "--type", "image", "--prompt", "a ceramic mug"]
    resume_suffix = ""
    if how == "runs wait":
        started = run([*api, *start, "--json"])
        assert started.exit_code == 0
        run_id = started.json()["run_id"]
        args = [*api, "runs", "wait", run_id, "--poll-interval", "0.5", "--json"]
    elif how == "create --wait":
        args = [*api, *start, "--wait", "--poll-interval", "0.5", "--json"]
    else:
        out_dir = tmp_path / "out"
        args = [*api, *start, "--download", str(out_dir), "--poll-interval", "0.5", "--json"]
        resume_suffix = f" --download {out_dir}"

    code, stdout, stderr = _interrupt_after_first_status(args)

    run_id = next(iter(slow.state.runs))
    assert code == 130, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    assert SECRET not in stderr
    last = stderr.strip().splitlines()[-1]
    doc = json.loads(last)
    assert doc["exit_code"] == 130
    assert doc["error"]["code"] == "interrupted"
    assert doc["run_id"] == run_id
    assert f"hint: Resume with: flora runs wait {run_id}{resume_suffix}\n" in stderr
    # the run itself was not touched: it is still going
    assert len(slow.state.runs) == 1

"""SIGINT and SIGTERM in real subprocesses, during the POST, a poll and a download (SPEC §5,
§7): exit 130 / 143, `interrupted` / `terminated`, partial files removed, the run id and the
resume hint once a run exists, and on a terminal the cursor shown again."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.hostile.helpers import start
from tests.hostile.rawserver import (
    RUN,
    RawServer,
    check_outputs,
    created,
    head,
    json_reply,
    raw_server,
    respond,
    run_doc,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


def _hang(conn, req):  # type: ignore[no-untyped-def]
    time.sleep(20)


def _slow_file(conn, req):  # type: ignore[no-untyped-def]
    head(conn, 200, {"content-length": str(10 * 1024 * 1024), "content-type": "image/png"})
    for _ in range(400):
        conn.sendall(b"\x89PNG" + b"z" * 8188)
        time.sleep(0.05)


def _signal_when(proc: subprocess.Popen[bytes], ready: threading.Event, sig: int) -> None:
    ready.wait(20)
    time.sleep(0.3)
    proc.send_signal(sig)


def _run(args: list[str], srv: RawServer, ready_path: str, sig: int) -> tuple[int, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "flora_cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    ready = threading.Event()

    def watch() -> None:
        end = time.monotonic() + 20
        while time.monotonic() < end and ready_path not in srv.paths():
            time.sleep(0.02)
        ready.set()

    threading.Thread(target=watch, daemon=True).start()
    threading.Thread(target=_signal_when, args=(proc, ready, sig), daemon=True).start()
    out, err = proc.communicate(timeout=40)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_signal_during_the_post(sig: int, code: int, name: str) -> None:
    with raw_server({"/api/v1/generate": _hang}) as srv:
        rc, out, err = _run(start(srv), srv, "/api/v1/generate", sig)
    check_outputs(out, err, rc)
    assert rc == code
    doc = json.loads(err.strip().splitlines()[-1])
    assert doc["error"]["code"] == name and "run_id" not in doc
    assert doc["idempotency_key"]  # the key to look the run up by, if it started


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_signal_during_a_poll(sig: int, code: int, name: str) -> None:
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, created(srv)),
        f"/api/v1/runs/{RUN}": json_reply(200, run_doc("running")),
    }) as srv:
        rc, out, err = _run(start(srv, "--wait", "--poll-interval", "0.5"), srv,
                            f"/api/v1/runs/{RUN}", sig)
    check_outputs(out, err, rc)
    assert rc == code
    doc = json.loads(err.strip().splitlines()[-1])
    assert doc["error"]["code"] == name and doc["run_id"] == RUN
    assert f"flora runs wait {RUN}" in err


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_signal_during_a_download_removes_the_partial_file(
        sig: int, code: int, name: str, tmp_path: Path) -> None:
    # before: SIGTERM exited 143 silently and left the .part file
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": _slow_file,
    }) as srv:
        args = ["--api-key", "sk_test_TOPSECRET0123456789", "--base-url", srv.base_url,
                "runs", "wait", RUN, "--download", str(tmp_path), "--json"]
        rc, out, err = _run(args, srv, "/f/o1.png", sig)
    check_outputs(out, err, rc)
    assert rc == code
    doc = json.loads(err.strip().splitlines()[-1])
    assert doc["error"]["code"] == name and doc["run_id"] == RUN
    assert f"flora runs wait {RUN} --download" in err
    assert list(tmp_path.iterdir()) == []  # no .part left behind


def test_sigterm_on_a_terminal_restores_the_cursor() -> None:
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, created(srv)),
        f"/api/v1/runs/{RUN}": json_reply(200, run_doc("running")),
    }) as srv:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the CLI on a terminal, with its progress bar
            os.environ.update({"TERM": "xterm-256color", "COLUMNS": "100"})
            os.execv(sys.executable, [sys.executable, "-m", "flora_cli",
                                      *start(srv, "--wait", "--format", "pretty")])
        seen = b""
        end = time.monotonic() + 20
        sent = False
        while time.monotonic() < end:
            if not sent and srv.paths().count(f"/api/v1/runs/{RUN}") >= 2:
                os.kill(pid, signal.SIGTERM)
                sent = True
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
        _, status = os.waitpid(pid, 0)
    assert sent
    assert os.waitstatus_to_exitcode(status) == 143
    text = seen.decode(errors="replace")
    assert "\x1b[?25l" in text  # the bar hid the cursor...
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")  # ...and it was shown again
    assert RUN in text and "terminated" in text

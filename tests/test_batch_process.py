"""Batches in real subprocesses and against scripted servers: SIGTERM and resume, a 429 storm,
two shards writing one ledger at once, the ledger of single runs, `runs history`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, run, run_process

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("FLORA_STATE_DIR", str(path))
    return path


def write_rows(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"r{i}", "prompt": f"mug {i}"}) + "\n"
                            for i in range(1, n + 1)))
    return path


def base_args(sb: RunningSandbox | Any, base_url: str | None = None) -> list[str]:
    return ["--api-key", SECRET, "--base-url", base_url or sb.base_url, "generations",
            "create", "--type", "image", "--workspace-id", "ws_sandbox", "--project-id",
            "prj_sandbox"]


def count_ledger(state: Path) -> int:
    conn = sqlite3.connect(state / "ledger.db")
    try:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize(("sig", "code", "exit_code"), [
    (signal.SIGTERM, "terminated", 143), (signal.SIGINT, "interrupted", 130)])
def test_a_signal_mid_batch_then_resume_starts_only_the_missing_rows(
        make_sandbox: Callable[..., RunningSandbox], state: Path, tmp_path: Path,
        sig: int, code: str, exit_code: int) -> None:
    sb = make_sandbox(latency_ms=150)
    rows = write_rows(tmp_path / "rows.jsonl", 40)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flora_cli", *base_args(sb), "--from-file", str(rows),
         "--concurrency", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=dict(os.environ))
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        # Unbuffered, so readline takes exactly three lines: communicate() reads the pipe's
        # file descriptor, and lines read ahead into a buffer here would be missed.
        head = [proc.stdout.readline().decode() for _ in range(3)]  # a few rows are done
        proc.send_signal(sig)
        rest_b, err_b = proc.communicate(timeout=30)
        rest, err = rest_b.decode(), err_b.decode()
    finally:
        killer.cancel()
    assert proc.returncode == exit_code, err
    assert "Traceback" not in err and SECRET not in err
    assert json.loads(err.strip().splitlines()[-1])["error"]["code"] == code
    docs = [json.loads(x) for x in [*head, *rest.splitlines()] if x.strip()]
    assert sorted(d["row"] for d in docs) == list(range(1, 41))  # every row reported once
    started = [d for d in docs if d["status"] == "started"]
    assert 3 <= len(started) < 40
    assert all(d["error"]["code"] == code for d in docs if d["status"] == "not_started")
    assert len(sb.state.runs) == len(started)  # rows in flight finished and were recorded
    assert count_ledger(state) == len(started)

    again = run([*base_args(sb), "--from-file", str(rows), "--concurrency", "8"])
    assert again.exit_code == 0, again.stderr
    redo = [json.loads(x) for x in again.stdout.splitlines()]
    assert sum(1 for d in redo if "skipped" in d) == len(started)
    assert len(sb.state.runs) == 40  # only the missing rows were started
    assert count_ledger(state) == 40


def test_a_run_id_is_printed_only_once_the_ledger_has_it_even_across_a_crash(
        make_sandbox: Callable[..., RunningSandbox], state: Path, tmp_path: Path) -> None:
    sb = make_sandbox(latency_ms=100)
    rows = write_rows(tmp_path / "rows.jsonl", 40)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flora_cli", *base_args(sb), "--from-file", str(rows),
         "--concurrency", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=dict(os.environ))
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        head = []
        for _ in range(6):
            doc = json.loads(proc.stdout.readline().decode())
            # Read as soon as it is printed: its run is already committed in the ledger.
            conn = sqlite3.connect(state / "ledger.db")
            try:
                found = conn.execute("SELECT run_id FROM runs WHERE run_id = ?",
                                     (doc["run_id"],)).fetchall()
            finally:
                conn.close()
            assert found == [(doc["run_id"],)], doc
            head.append(doc)
    finally:
        killer.cancel()
        proc.kill()  # a crash: no handler, no final write
        proc.communicate(timeout=30)
    again = run([*base_args(sb), "--from-file", str(rows), "--concurrency", "8"])
    assert again.exit_code in (0, 11), again.stderr
    redo = {d["row"]: d for d in map(json.loads, again.stdout.splitlines())}
    assert sorted(redo) == list(range(1, 41))
    for doc in head:  # every run printed before the crash is known, never sent again
        assert redo[doc["row"]]["skipped"] == "already started"
        assert redo[doc["row"]]["run_id"] == doc["run_id"]
    assert len(sb.state.runs) == 40  # one run per row, the crash notwithstanding


class StormServer:
    """A real HTTP server: requests number `storm` get 429 (retry-after 1), every other one
    201 after 20 ms; it notes when each request arrived and how many were in flight."""

    def __init__(self, storm: range) -> None:
        self.storm = storm
        self.lock = threading.Lock()
        self.count = 0
        self.in_flight = 0
        self.log: list[tuple[float, int, int]] = []  # (arrival, in flight, status)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server.lock:
                    server.count += 1
                    n = server.count
                    server.in_flight += 1
                    status = 429 if n in server.storm else 201
                    server.log.append((time.monotonic(), server.in_flight, status))
                time.sleep(0.02)
                body: dict[str, Any]
                if status == 429:
                    body = {"error": {"code": "rate_limited", "message": "Slow down."}}
                    headers = {"retry-after": "1"}
                else:
                    body = {"run_id": f"run_{n:06d}", "type": "generation",
                            "estimated_seconds": 1, "charged_cost": 0.01,
                            "poll_url": "http://x/runs/y", "model": {"model_id": "m"},
                            "project_id": "prj_sandbox"}
                    headers = {}
                data = json.dumps(body).encode()
                with server.lock:
                    server.in_flight -= 1
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", "request-id": "req_1",
                             "Content-Length": str(len(data)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler


@contextmanager
def storm_server(storm: range) -> Iterator[tuple[StormServer, str]]:
    srv = StormServer(storm)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), srv.handler())
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield srv, f"http://127.0.0.1:{httpd.server_address[1]}/api/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_429_storm_halves_the_concurrency_and_pauses_every_worker(
        state: Path, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 60)
    with storm_server(range(20, 60)) as (srv, url):
        out = run([*base_args(None, url), "--from-file", str(rows), "--concurrency", "16"])
    assert out.exit_code == 0, out.stderr
    docs = [json.loads(x) for x in out.stdout.splitlines()]
    assert sorted(d["row"] for d in docs) == list(range(1, 61))
    assert all(d["status"] == "started" for d in docs)
    notes = [x for x in out.stderr.splitlines() if "rate limited (429)" in x]
    assert "concurrency 16 → 8" in notes[0]
    assert any("→ 4" in x for x in notes) or any("→ 2" in x for x in notes)
    # Every worker honoured the first retry-after: after the first 429 was answered,
    # nothing new arrived for most of a second.
    first = next(t for t, _, s in srv.log if s == 429)
    # (An attempt already past the gate when the 429 came may still land a little later on a
    # loaded machine; none starts in the rest of the pause.)
    gap = [t for t, _, _ in srv.log if first + 0.3 < t < first + 0.85]
    assert not gap, gap
    # After the storm, the in-flight count stayed at the halved limit or below.
    last = max(t for t, _, s in srv.log if s == 429)
    after = [f for t, f, _ in srv.log if t > last + 0.1]
    assert after and max(after) <= 8


def test_two_shards_at_once_write_one_ledger_and_lose_nothing(
        sandbox: RunningSandbox, state: Path, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 80)
    env = {**os.environ}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "flora_cli", *base_args(sandbox), "--from-file", str(rows),
         "--concurrency", "8", "--shard", f"{k}/2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for k in (1, 2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    rows_seen = sorted(json.loads(x)["row"] for o, _ in outs for x in o.splitlines())
    assert rows_seen == list(range(1, 81))
    assert len(sandbox.state.runs) == 80
    assert count_ledger(state) == 80


def test_single_runs_are_recorded_and_waits_update_them(
        sandbox: RunningSandbox, state: Path) -> None:
    start = run([*base_args(sandbox), "--prompt", "a mug", "--json"])
    assert start.exit_code == 0, start.stderr
    run_id = start.json()["run_id"]
    hist = run(["runs", "history", "--json"])
    (doc,) = hist.json()
    assert doc["run_id"] == run_id and doc["status"] == "started" and doc["batch_id"] is None
    waited = run(["--api-key", SECRET, "--base-url", sandbox.base_url, "runs", "wait", run_id,
                  "--poll-interval", "0.5", "--json"])
    assert waited.exit_code == 0, waited.stderr
    (doc,) = run(["runs", "history", "--json"]).json()
    assert doc["status"] == "completed" and doc["charged_cost"] == 0.04


def test_the_ledger_can_be_turned_off(sandbox: RunningSandbox, state: Path) -> None:
    out = run([*base_args(sandbox), "--prompt", "a mug", "--json"],
              env={"FLORA_NO_LEDGER": "1"})
    assert out.exit_code == 0
    assert not (state / "ledger.db").exists()


def test_a_corrupt_ledger_is_a_clear_error_before_anything_is_sent(
        sandbox: RunningSandbox, state: Path, tmp_path: Path) -> None:
    state.mkdir()
    (state / "ledger.db").write_bytes(b"this is not sqlite" * 100)
    rows = write_rows(tmp_path / "rows.jsonl", 3)
    for args in (["--from-file", str(rows)], ["--prompt", "x"]):
        out = run([*base_args(sandbox), *args])
        assert out.exit_code == 2, out.stderr
        assert str(state / "ledger.db") in out.stderr and "FLORA_NO_LEDGER" in out.stderr
        assert sandbox.state.request_count == 0
    hist = run(["runs", "history"])
    assert hist.exit_code == 2 and str(state / "ledger.db") in hist.stderr


def test_a_ledger_locked_too_long_names_the_file(
        sandbox: RunningSandbox, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flora_cli.batch import ledger as ledger_mod

    monkeypatch.setattr(ledger_mod, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(ledger_mod, "LOCKED_GIVE_UP", 0.3)
    ledger_mod.Ledger(state / "ledger.db").close()
    holder = sqlite3.connect(state / "ledger.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = run([*base_args(sandbox), "--prompt", "x", "--json"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert out.exit_code in (0, 2), out.stderr
    assert str(state / "ledger.db") in out.stderr and "locked" in out.stderr
    if out.exit_code == 0:  # the run started: its id is on stdout, the warning names the file
        assert out.json()["run_id"].startswith("run_")


def test_runs_left_in_the_wal_at_exit_are_read_by_history_and_a_rerun(
        sandbox: RunningSandbox, state: Path, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 5)
    first = run_process([*base_args(sandbox), "--from-file", str(rows)])
    single = run_process([*base_args(sandbox), "--prompt", "single", "--json"])
    assert first.exit_code == 0 and single.exit_code == 0, first.stderr + single.stderr
    wal = state / "ledger.db-wal"
    if hasattr(sqlite3.Connection, "setconfig"):  # 3.12+: no checkpoint when the CLI closes
        assert wal.exists() and wal.stat().st_size > 0
    else:  # 3.10/3.11: the last connection checkpoints and removes the WAL
        assert not wal.exists()
    hist = run_process(["runs", "history", "--format", "jsonl", "--limit", "0"])
    assert hist.exit_code == 0, hist.stderr
    docs = [json.loads(x) for x in hist.stdout.splitlines()]
    assert sorted(str(d["prompt"]) for d in docs) == [*(f"mug {i}" for i in range(1, 6)),
                                                      "single"]
    assert json.loads(single.stdout)["run_id"] in {d["run_id"] for d in docs}
    again = run_process([*base_args(sandbox), "--from-file", str(rows)])
    assert again.exit_code == 0, again.stderr
    assert all(json.loads(x)["skipped"] for x in again.stdout.splitlines())
    assert len(sandbox.state.runs) == 6 and count_ledger(state) == 6


@pytest.fixture
def history_ledger(sandbox: RunningSandbox, state: Path, tmp_path: Path) -> Path:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "fine"}\n{"prompt": "bad [fail:safety_blocked]"}\n')
    out = run([*base_args(sandbox), "--from-file", str(rows), "--wait", "--poll-interval",
               "0.5", "--batch-id", "hist1"])
    assert out.exit_code == 11
    assert run([*base_args(sandbox), "--prompt", "single"]).exit_code == 0
    return state


@pytest.mark.parametrize("fmt", ["json", "jsonl", "yaml", "raw", "pretty"])
def test_history_in_every_format_offline(history_ledger: Path, fmt: str) -> None:
    # no key, an unreachable base URL: history never touches the network
    out = run(["--base-url", "http://127.0.0.1:9/api/v1", "runs", "history", "--format", fmt],
              env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.stderr
    text = out.stdout
    if fmt == "json":
        docs = json.loads(text)
        assert [d["prompt"] for d in docs] == ["single", "bad [fail:safety_blocked]", "fine"] \
            or {d["prompt"] for d in docs} == {"single", "bad [fail:safety_blocked]", "fine"}
    elif fmt in ("jsonl", "raw"):
        assert len([json.loads(x) for x in text.splitlines()]) == 3
    elif fmt == "yaml":
        import yaml

        assert len(yaml.safe_load(text)) == 3
    else:
        assert "completed" in text and "failed" in text and "hist1" in text


def test_history_filters(history_ledger: Path) -> None:
    def docs(*args: str) -> list[dict[str, Any]]:
        out = run(["runs", "history", "--format", "json", *args])
        assert out.exit_code == 0, out.stderr
        return list(out.json())

    assert [d["status"] for d in docs("--status", "failed")] == ["failed"]
    assert [d["row"] for d in docs("--batch", "hist1")] == [1, 2]
    assert len(docs("--limit", "1")) == 1
    assert len(docs("--since", "1h")) == 3
    assert docs("--since", "2999-01-01") == []
    bad = run(["runs", "history", "--since", "yesterday-ish"])
    assert bad.exit_code == 2 and "--since" in bad.stderr


def test_history_without_a_ledger_is_empty(state: Path) -> None:
    out = run(["runs", "history", "--format", "json"])
    assert out.exit_code == 0 and out.json() == []
    assert not (state / "ledger.db").exists()


def test_live_display_process_has_no_traceback(sandbox: RunningSandbox, state: Path,
                                               tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 5)
    out = run_process([*base_args(sandbox), "--from-file", str(rows), "--quiet"])
    assert out.exit_code == 0 and out.stderr == ""


def test_a_profile_can_turn_the_ledger_off(sandbox: RunningSandbox, state: Path,
                                           tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text("[profiles.default]\nledger = false\n")
    monkeypatch.setenv("FLORA_CONFIG_DIR", str(config))
    rows = write_rows(tmp_path / "rows.jsonl", 2)
    out = run([*base_args(sandbox), "--from-file", str(rows)])
    assert out.exit_code == 0, out.stderr
    assert not (state / "ledger.db").exists()
    monkeypatch.setenv("FLORA_CONFIG_DIR", str(tmp_path / "none"))
    out = run([*base_args(sandbox), "--prompt", "x", "--json"])
    assert out.exit_code == 0 and (state / "ledger.db").exists()
    (doc,) = run(["runs", "history", "--json"]).json()
    assert doc["profile"] == "default"


def test_the_profile_gives_the_rows_defaults(sandbox: RunningSandbox, state: Path,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text(
        f'[profiles.default]\nworkspace_id = "{sandbox.workspace_id}"\n'
        f'project_id = "{sandbox.project_id}"\nmodel = "t2i-flux-2-pro"\n')
    monkeypatch.setenv("FLORA_CONFIG_DIR", str(config))
    rows = write_rows(tmp_path / "rows.jsonl", 3)
    out = run(["--api-key", SECRET, "--base-url", sandbox.base_url, "generations", "create",
               "--type", "image", "--from-file", str(rows)])
    assert out.exit_code == 0, out.stderr
    assert {r.model_id for r in sandbox.state.runs.values()} == {"t2i-flux-2-pro"}
    assert len(sandbox.state.runs) == 3


def test_the_ledger_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """SQLite's default 2 MiB page cache grew with the ledger (a 10,000-row batch's peak RSS
    by ~2 MiB, bench/batch.py); the ledger's own is 256 KiB, whatever the file's size."""
    from flora_cli.batch import ledger as ledger_mod

    led = ledger_mod.Ledger(tmp_path / "ledger.db")
    try:
        assert led.conn is not None
        assert led.conn.execute("PRAGMA cache_size").fetchone()[0] == -ledger_mod.CACHE_KIB
        assert ledger_mod.CACHE_KIB <= 512
    finally:
        led.close()

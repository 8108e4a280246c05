"""Batches end to end against the sandbox on a real socket (SPEC §12)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, Outcome, run


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("FLORA_STATE_DIR", str(path))
    return path


def write_rows(path: Path, n: int, **extra: Any) -> Path:
    with path.open("w") as f:
        for i in range(1, n + 1):
            f.write(json.dumps({"id": f"r{i}", "prompt": f"a ceramic mug, take {i}", **extra})
                    + "\n")
    return path


def batch(sb: RunningSandbox, *args: str, cmd: str = "generations") -> Outcome:
    command = ["generations", "create"] if cmd == "generations" else [
        "runs", "start-generation"]
    return run(["--api-key", SECRET, "--base-url", sb.base_url, *command, "--type", "image",
                "--workspace-id", sb.workspace_id, "--project-id", sb.project_id, *args],
               env={"FLORA_NO_DEPRECATION_WARNING": "1"})


def lines(out: Outcome) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.stdout.splitlines()]


def ledger_rows(state: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(state / "ledger.db")
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM runs ORDER BY row"))
    finally:
        conn.close()


def test_result_lines_escape_every_control_character(sandbox: RunningSandbox, state: Path,
                                                     tmp_path: Path) -> None:
    ids = ["csi\x9b2J", "del\x7f", "esc\x1b[31m", "nel\x85", "caf\u00e9 \u2615", "plain"]
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "prompt": f"mug {n}"}) + "\n"
                            for n, i in enumerate(ids)), encoding="utf-8")
    out = batch(sandbox, "--from-file", str(rows), "--concurrency", "3")
    assert out.exit_code == 0, out.stderr
    for raw in ("\x9b", "\x7f", "\x1b", "\x85"):
        assert raw not in out.stdout
    assert "caf\u00e9 \u2615" in out.stdout  # non-ASCII text stays readable
    assert sorted(d["id"] for d in lines(out)) == sorted(ids)


def test_one_run_per_row_then_a_rerun_starts_nothing(sandbox: RunningSandbox, state: Path,
                                                     tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 12)
    first = batch(sandbox, "--from-file", str(rows), "--concurrency", "4")
    assert first.exit_code == 0, first.stderr
    docs = lines(first)
    assert sorted(d["row"] for d in docs) == list(range(1, 13))
    assert {d["status"] for d in docs} == {"started"}
    assert all(d["run_id"].startswith("run_") and d["error"] is None for d in docs)
    assert set(docs[0]) == {"row", "id", "run_id", "status", "error", "idempotency_key"}
    assert len(sandbox.state.runs) == 12
    assert "12 started" in first.stderr  # the summary line off a terminal
    recorded = ledger_rows(state)
    assert [r["row"] for r in recorded] == list(range(1, 13))
    assert {r["run_id"] for r in recorded} == {d["run_id"] for d in docs}
    assert recorded[0]["prompt"] == "a ceramic mug, take 1" and recorded[0]["type"] == "image"

    again = batch(sandbox, "--from-file", str(rows), "--ordered")
    assert again.exit_code == 0, again.stderr
    redo = lines(again)
    assert [d["row"] for d in redo] == list(range(1, 13))  # --ordered: file order
    assert all(d["skipped"] == "already started" and d["status"] == "skipped" for d in redo)
    assert {d["run_id"] for d in redo} == {d["run_id"] for d in docs}
    assert len(sandbox.state.runs) == 12  # nothing sent again

    # With --wait, the rows already started are followed to their end, not sent again.
    waited = batch(sandbox, "--from-file", str(rows), "--wait", "--poll-interval", "0.5")
    assert waited.exit_code == 0, waited.stderr
    assert {(d["status"], d["skipped"]) for d in lines(waited)} == {
        ("completed", "already started")}
    assert len(sandbox.state.runs) == 12
    assert {r["status"] for r in ledger_rows(state)} == {"completed"}


def test_csv_rows_and_both_commands(sandbox: RunningSandbox, state: Path,
                                    tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('id,prompt,type,param.seed\n'
                    'a,"a mug, blue",image,1\n'
                    'b,a haiku,text,\n')
    out = batch(sandbox, "--from-file", str(path), "--ordered", cmd="runs")
    assert out.exit_code == 0, out.stderr
    assert [d["id"] for d in lines(out)] == ["a", "b"]
    types = sorted(r.media_type for r in sandbox.state.runs.values())
    assert types == ["image", "text"]
    assert {r["endpoint"] for r in ledger_rows(state)} == {"/runs/generation"}


def test_wait_and_download_every_row(sandbox: RunningSandbox, state: Path,
                                     tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "ok 1"}\n{"prompt": "boom [fail:safety_blocked]"}\n'
                    '{"prompt": "ok 2"}\n')
    out = batch(sandbox, "--from-file", str(rows), "--download", str(tmp_path / "out"),
                "--poll-interval", "0.5", "--ordered")
    assert out.exit_code == 11, out.stderr
    docs = lines(out)
    assert [d["status"] for d in docs] == ["completed", "failed", "completed"]
    assert docs[1]["error"]["code"] == "safety_blocked"
    for d in (docs[0], docs[2]):
        (saved,) = d["local_files"]
        assert Path(saved["path"]).stat().st_size == saved["bytes"] > 0
    assert docs[1]["local_files"] == []
    recorded = {r["row"]: r for r in ledger_rows(state)}
    assert recorded[1]["status"] == "completed" and recorded[2]["status"] == "failed"
    assert recorded[2]["error_code"] == "safety_blocked"
    assert json.loads(recorded[1]["local_files"])[0]["path"] == docs[0]["local_files"][0]["path"]
    assert out.error()["error"]["code"] == "batch_incomplete"


@pytest.mark.parametrize("mode", ["spec", "replay"])
def test_chaos_every_row_once_and_a_rerun_starts_zero(
        make_sandbox: Callable[..., RunningSandbox], state: Path, tmp_path: Path,
        mode: str) -> None:
    sb = make_sandbox(drop_rate=0.2, error_rate=0.2, seed=7, idempotency=mode)
    rows = write_rows(tmp_path / "rows.jsonl", 50)
    out = batch(sb, "--from-file", str(rows), "--concurrency", "8")
    docs = lines(out)
    assert sorted(d["row"] for d in docs) == list(range(1, 51))  # each exactly once
    assert len(sb.state.runs) == 50  # one run per row, none lost, none doubled
    assert all(d["status"] == "started" for d in docs), out.stdout
    if mode == "replay":
        assert out.exit_code == 0 and all(d["run_id"] for d in docs)
    lost = [d for d in docs if d["run_id"] is None]
    assert all(d["error"]["code"] == "idempotency_duplicate" for d in lost)
    assert len(ledger_rows(state)) == 50

    again = batch(sb, "--from-file", str(rows), "--concurrency", "8")
    assert len(sb.state.runs) == 50  # the rerun started zero runs
    assert sorted(d["row"] for d in lines(again)) == list(range(1, 51))
    assert all(d.get("skipped") == "already started" for d in lines(again))


def test_shards_split_the_rows(sandbox: RunningSandbox, state: Path, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 10)
    a = batch(sandbox, "--from-file", str(rows), "--shard", "1/3", "--ordered")
    b = batch(sandbox, "--from-file", str(rows), "--shard", "3/3", "--ordered")
    assert [d["row"] for d in lines(a)] == [1, 4, 7, 10]
    assert [d["row"] for d in lines(b)] == [3, 6, 9]
    assert len(sandbox.state.runs) == 7
    everything = batch(sandbox, "--from-file", str(rows))
    assert len(sandbox.state.runs) == 10  # only the rows no shard ran
    assert sum(1 for d in lines(everything) if "skipped" in d) == 7


def test_max_cost_stops_starting_rows(sandbox: RunningSandbox, state: Path,
                                      tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 10, model="t2i-flux-2-pro")
    out = batch(sandbox, "--from-file", str(rows), "--max-cost", "0.20", "--ordered",
                "--concurrency", "1")
    assert out.exit_code == 11
    docs = lines(out)
    started = [d for d in docs if d["status"] == "started"]
    rest = [d for d in docs if d["status"] == "not_started"]
    assert started and rest and len(started) + len(rest) == 10
    assert all(d["error"]["code"] == "max_cost_reached" for d in rest)
    spent = sum(r.cost for r in sandbox.state.runs.values())
    assert spent <= 0.20 + 1e-9 and len(sandbox.state.runs) == len(started)


@pytest.mark.parametrize(("content", "args", "needle"), [
    ("", [], "is empty"),
    ("image,a mug\n", [], "no CSV header"),
    ('{"prompt": "x"}\n[1, 2]\n', [], "row 2 (line 2): (line): must be a JSON object"),
    ("prompt,colour\nx,red\n", [], "unknown column(s) 'colour'"),
    ('{"prompt": "x"}\n', ["--shard", "0/3"], "--shard"),
    ('{"prompt": "x"}\n', ["--shard", "4/3"], "--shard"),
    ('{"prompt": "x"}\n', ["--concurrency", "0"], "--concurrency"),
    ('{"prompt": "x"}\n', ["--concurrency", "65"], "--concurrency"),
    ('{"prompt": "x"}\n', ["--idempotency-key", "k"], "--idempotency-key"),
    ('{"prompt": "x"}\n', ["--wait", "--text"], "--text"),
])
def test_bad_input_exits_2_and_sends_nothing(sandbox: RunningSandbox, state: Path,
                                             tmp_path: Path, content: str, args: list[str],
                                             needle: str) -> None:
    path = tmp_path / ("rows.csv" if "colour" in content else "rows.txt")
    path.write_text(content)
    out = batch(sandbox, "--from-file", str(path), *args)
    assert out.exit_code == 2, out.stderr
    assert needle in out.stderr
    assert out.stdout == ""
    assert sandbox.state.request_count == 0 and not sandbox.state.runs
    assert not (state / "ledger.db").exists()


def test_bad_rows_are_listed_in_the_json_error(sandbox: RunningSandbox, state: Path,
                                               tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": ""}\n{"prompt": "x", "model": "a b"}\n')
    out = batch(sandbox, "--from-file", str(path))
    assert out.exit_code == 2
    err = out.error()["error"]
    assert [(r["row"], r["field"]) for r in err["rows"]] == [(2, "prompt"), (3, "model")]
    assert sandbox.state.request_count == 0


def test_batch_flags_need_the_file(sandbox: RunningSandbox, state: Path) -> None:
    out = batch(sandbox, "--prompt", "x", "--shard", "1/2")
    assert out.exit_code == 2 and "--shard only applies with --from-file" in out.stderr
    assert sandbox.state.request_count == 0


def test_dry_run_prints_each_rows_request_and_sends_nothing(
        sandbox: RunningSandbox, state: Path, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 3)
    out = batch(sandbox, "--from-file", str(rows), "--dry-run")
    assert out.exit_code == 0, out.stderr
    docs = lines(out)
    assert [d["row"] for d in docs] == [1, 2, 3]
    assert docs[0]["headers"]["Idempotency-Key"].startswith("flora-b1-")
    assert sandbox.state.request_count == 0


def test_stdin_batch(sandbox: RunningSandbox, state: Path) -> None:
    out = run(["--api-key", SECRET, "--base-url", sandbox.base_url, "generations", "create",
               "--from-file", "-", "--workspace-id", sandbox.workspace_id, "--project-id",
               sandbox.project_id],
              input='{"type": "audio", "prompt": "a chime"}\n')
    assert out.exit_code == 0, out.stderr
    assert len(sandbox.state.runs) == 1


def test_auth_failure_stops_the_batch(sandbox: RunningSandbox, state: Path,
                                      tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 20)
    out = run(["--api-key", "sk_live_nope", "--base-url", sandbox.base_url, "generations",
               "create", "--from-file", str(rows), "--type", "image", "--workspace-id",
               sandbox.workspace_id, "--project-id", sandbox.project_id, "--concurrency", "1"])
    assert out.exit_code == 11
    docs = lines(out)
    assert len(docs) == 20
    assert docs[0]["status"] == "rejected" and docs[0]["error"]["code"] == "invalid_api_key"
    assert sum(1 for d in docs if d["status"] == "not_started") >= 18
    assert sandbox.state.request_count <= 2


def test_rows_fail_the_pre_spend_check_before_anything_is_sent(
        sandbox: RunningSandbox, state: Path, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "ok", "model": "t2i-flux-2-pro"}\n'
                    '{"prompt": "x", "model": "t2i-flux-2-pro", "params": {"nope": 1}}\n'
                    '{"prompt": "y", "model": "no-such-model"}\n')
    out = batch(sandbox, "--from-file", str(path))
    assert out.exit_code == 2, out.stderr
    rows = out.error()["error"]["rows"]
    assert [(r["row"], r["field"]) for r in rows] == [(2, "params.nope"), (3, "model")]
    assert not sandbox.state.runs
    skipped = batch(sandbox, "--from-file", str(path), "--no-check", "--ordered")
    assert skipped.exit_code == 11  # the API itself refused rows 2 and 3
    assert [d["status"] for d in lines(skipped)] == ["started", "rejected", "rejected"]

"""End-to-end: --wait, `runs wait` and `runs get` against the sandbox over a real socket
(and a scripted server where the sandbox cannot do it: a foreign-origin poll_url)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, Outcome, run
from tests.scripted_server import RUN_CREATED, Reply, scripted

STATUS_LINE = re.compile(r"^run (run_\S+): (pending|running|completed|failed)( after .+)?$")


def api(sb: RunningSandbox) -> list[str]:
    # The sandbox accepts any sk_test_ key: SECRET lets run() check it never leaks.
    return ["--base-url", sb.base_url, "--api-key", SECRET]


def create(sb: RunningSandbox, *extra: str, prompt: str = "a ceramic mug",
           media: str = "image", command: tuple[str, ...] = ("generations", "create")) -> Outcome:
    return run([*api(sb), *command, "--workspace-id", sb.workspace_id,
                "--project-id", sb.project_id, "--type", media, "--prompt", prompt, *extra])


def started_run(sb: RunningSandbox, **kw: Any) -> str:
    out = create(sb, "--json", **kw)
    assert out.exit_code == 0, out.stderr
    run_id = out.json()["run_id"]
    assert isinstance(run_id, str)
    return run_id


def status_lines(stderr: str) -> list[tuple[str, str]]:
    lines = [line for line in stderr.splitlines() if STATUS_LINE.match(line)]
    return [(m.group(1), m.group(2)) for m in map(STATUS_LINE.match, lines) if m]


# -- completed --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("generations", "create"), ("runs", "start-generation")])
def test_wait_prints_only_the_final_run_document(sandbox: RunningSandbox,
                                                 command: tuple[str, ...]) -> None:
    out = create(sandbox, "--wait", "--poll-interval", "0.5", "--json", command=command)
    assert out.exit_code == 0, out.stderr
    doc = out.json()  # stdout is exactly one JSON document
    assert doc["status"] == "completed"
    assert doc["run_id"] in sandbox.state.runs
    assert "estimated_seconds" not in doc  # the start answer is not printed
    assert doc["outputs"][0]["type"] == "imageUrl"
    # stderr: one line per status change, ending with completed
    lines = status_lines(out.stderr)
    assert lines and lines[-1] == (doc["run_id"], "completed")
    statuses = [s for _, s in lines]
    assert len(statuses) == len(set(statuses))
    if command[0] == "runs":
        assert out.stderr.startswith("warning:")  # the deprecation warning is still there


def test_runs_wait_on_a_started_run(sandbox: RunningSandbox) -> None:
    run_id = started_run(sandbox)
    out = run([*api(sandbox), "runs", "wait", run_id, "--poll-interval", "0.5", "--json"])
    assert out.exit_code == 0, out.stderr
    assert out.json()["run_id"] == run_id and out.json()["status"] == "completed"
    assert status_lines(out.stderr)[-1] == (run_id, "completed")


def test_global_flags_work_on_the_leaf_commands(sandbox: RunningSandbox) -> None:
    run_id = started_run(sandbox)
    out = run(["runs", "wait", run_id, "--poll-interval", "0.5", *api(sandbox),
               "--query", "status", "-r", "--quiet"])
    assert out.exit_code == 0, out.stderr
    assert out.stdout == "completed\n"
    assert out.stderr == ""  # --quiet: no progress lines


def test_quiet_wait_prints_nothing_on_stderr(sandbox: RunningSandbox) -> None:
    out = create(sandbox, "--wait", "--poll-interval", "0.5", "--json", "-q")
    assert out.exit_code == 0
    assert out.stderr == ""
    assert out.json()["status"] == "completed"


def test_pretty_run_document(sandbox: RunningSandbox) -> None:
    out = create(sandbox, "--wait", "--poll-interval", "0.5", "--format", "pretty")
    assert out.exit_code == 0, out.stderr
    assert "Run completed" in out.stdout
    assert "imageUrl" in out.stdout and "$0.04" in out.stdout
    assert "run " in out.stderr  # progress still on stderr, never stdout
    assert not STATUS_LINE.search(out.stdout)


# -- runs get ---------------------------------------------------------------------------


def test_runs_get_prints_the_run_as_received(sandbox: RunningSandbox) -> None:
    run_id = started_run(sandbox)
    out = run([*api(sandbox), "runs", "get", run_id, "--json"])
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert doc["run_id"] == run_id
    assert doc["status"] in ("pending", "running", "completed")
    assert out.stderr == ""


def test_runs_get_raw_is_the_body_bytes(sandbox: RunningSandbox) -> None:
    run_id = started_run(sandbox)
    time.sleep(0.2)  # completed at speed 100
    out = run([*api(sandbox), "runs", "get", run_id, "--format", "raw"])
    assert out.exit_code == 0
    assert not out.stdout.endswith("\n")  # the body exactly, not re-serialised
    assert json.loads(out.stdout)["status"] == "completed"


def test_runs_get_pretty_for_a_pending_run_suggests_wait(
    make_sandbox: Callable[..., RunningSandbox],
) -> None:
    slow = make_sandbox(speed=0.01)
    run_id = started_run(slow)
    out = run([*api(slow), "runs", "get", run_id, "--format", "pretty"])
    assert out.exit_code == 0
    assert "Run pending" in out.stdout
    assert f"flora runs wait {run_id}" in out.stdout


def test_runs_get_unknown_run_is_not_found(sandbox: RunningSandbox) -> None:
    out = run([*api(sandbox), "runs", "get", "run_doesnotexist", "--json"])
    assert out.exit_code == 5
    assert out.error()["error"]["code"] == "not_found"


# -- failed -----------------------------------------------------------------------------


def test_a_failed_run_exits_10_with_the_document_and_its_error(sandbox: RunningSandbox) -> None:
    out = create(sandbox, "--wait", "--poll-interval", "0.5", "--json",
                 prompt="a ceramic mug [fail:safety_blocked]")
    assert out.exit_code == 10
    doc = out.json()
    assert doc["status"] == "failed" and doc["error_code"] == "safety_blocked"
    err = out.error()  # the last line of stderr
    assert err["exit_code"] == 10
    assert err["run_id"] == doc["run_id"]
    assert err["error"]["code"] == "safety_blocked"
    assert err["error"]["message"] == doc["error_message"]
    assert f"error: Run {doc['run_id']} failed: safety_blocked" in out.stderr
    assert "hint: " in out.stderr and "not charged" in out.stderr


def test_runs_wait_on_a_failed_run(sandbox: RunningSandbox) -> None:
    run_id = started_run(sandbox, prompt="mug [fail:model_timeout]")
    out = run([*api(sandbox), "runs", "wait", run_id, "--poll-interval", "0.5", "--json"])
    assert out.exit_code == 10
    assert out.json()["status"] == "failed"
    assert out.error()["error"]["code"] == "model_timeout"
    assert "transient" in out.stderr  # the hint for model_timeout


def test_a_failed_run_in_pretty(sandbox: RunningSandbox) -> None:
    out = create(sandbox, "--wait", "--poll-interval", "0.5", "--format", "pretty",
                 prompt="mug [fail:safety_blocked]")
    assert out.exit_code == 10
    assert "Run failed" in out.stdout and "safety_blocked" in out.stdout
    assert "Error" in out.stderr and "safety_blocked" in out.stderr


# -- timeout ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["start", "wait"])
def test_wait_timeout_exits_124_with_the_resume_command(
    make_sandbox: Callable[..., RunningSandbox], how: str
) -> None:
    slow = make_sandbox(speed=0.01)  # an 8 s image run takes 800 s
    began = time.monotonic()
    if how == "start":
        out = create(slow, "--wait", "--poll-interval", "0.5", "--wait-timeout", "1", "--json")
        run_id = next(iter(slow.state.runs))
    else:
        run_id = started_run(slow)
        out = run([*api(slow), "runs", "wait", run_id, "--poll-interval", "0.5",
                   "--wait-timeout", "1", "--json"])
    assert out.exit_code == 124
    assert time.monotonic() - began < 10
    assert out.stdout == ""  # no document: the run is not finished
    err = out.error()
    assert err["error"]["code"] == "wait_timeout"
    assert err["run_id"] == run_id
    assert f"flora runs wait {run_id}" in out.stderr


# -- usage errors: nothing is sent ------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--wait", "--poll-interval", "0.4"], "--poll-interval"),
        (["--wait", "--poll-interval", "abc"], "--poll-interval"),
        (["--wait", "--poll-interval", "nan"], "--poll-interval"),
        (["--wait", "--wait-timeout", "0"], "--wait-timeout"),
        (["--wait", "--wait-timeout", "-5"], "--wait-timeout"),
        (["--wait", "--wait-timeout", "inf"], "--wait-timeout"),
        (["--poll-interval", "3"], "--poll-interval"),
        (["--wait-timeout", "3"], "--wait-timeout"),
    ],
)
def test_bad_wait_flags_exit_2_and_send_nothing(sandbox: RunningSandbox, flags: list[str],
                                                named: str) -> None:
    out = create(sandbox, *flags, "--json")
    assert out.exit_code == 2, out.stderr
    assert named in out.error()["error"]["message"]
    assert sandbox.state.runs == {}


def test_download_into_a_file_exits_2_and_sends_nothing(sandbox: RunningSandbox,
                                                        tmp_path: Any) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    out = create(sandbox, "--download", str(target), "--json")
    assert out.exit_code == 2
    assert "--download" in out.error()["error"]["message"]
    assert sandbox.state.runs == {}


@pytest.mark.parametrize("command", ["get", "wait"])
@pytest.mark.parametrize("bad", ["abc123", "run_", "run_ x", "RUN_abc", ""])
def test_run_id_is_validated(sandbox: RunningSandbox, command: str, bad: str) -> None:
    before = sandbox.state.request_count
    out = run([*api(sandbox), "runs", command, bad, "--json"])
    assert out.exit_code == 2
    assert out.error()["error"]["code"] == "usage_error"
    assert "RUN_ID" in out.error()["error"]["message"]
    assert sandbox.state.request_count == before


def test_runs_wait_poll_interval_minimum(sandbox: RunningSandbox) -> None:
    out = run([*api(sandbox), "runs", "wait", "run_abc", "--poll-interval", "0.1", "--json"])
    assert out.exit_code == 2
    assert "at least 0.5" in out.error()["error"]["message"]


def test_runs_wait_without_a_key_exits_4() -> None:
    out = run(["runs", "wait", "run_abc", "--json"])
    assert out.exit_code == 4
    assert out.error()["error"]["code"] == "missing_api_key"


def test_dry_run_with_wait_sends_nothing(sandbox: RunningSandbox) -> None:
    out = create(sandbox, "--wait", "--dry-run", "--json")
    assert out.exit_code == 0
    assert out.json()["method"] == "POST"
    assert sandbox.state.runs == {}


# -- the key never goes to another origin -----------------------------------------------


def test_a_foreign_poll_url_receives_nothing() -> None:
    """The start answer points poll_url at another local server (another port): the CLI
    polls the API's own /runs/{id} instead and that server sees no request at all."""
    completed = {"run_id": "run_abc123", "status": "completed", "progress": 100,
                 "created_at": 1, "outputs": []}
    with scripted(Reply(200, {"error": "should never be asked"})) as foreign:
        created = {**RUN_CREATED, "poll_url": foreign.base_url + "/runs/run_abc123"}
        with scripted(Reply(201, created), Reply(200, completed)) as api_srv:
            out = run(["--base-url", api_srv.base_url, "--api-key", SECRET, "generations",
                       "create", "--workspace-id", "ws_abc123", "--project-id", "prj_abc123",
                       "--type", "image", "--prompt", "mug", "--wait", "--json"])
    assert out.exit_code == 0, out.stderr
    assert out.json() == completed
    assert foreign.requests == []
    poll = api_srv.requests[1]
    assert (poll.method, poll.path) == ("GET", "/api/v1/runs/run_abc123")
    assert poll.headers["authorization"] == f"Bearer {SECRET}"


def test_a_same_origin_poll_url_is_polled() -> None:
    completed = {"run_id": "run_abc123", "status": "completed", "progress": 100,
                 "created_at": 1}
    with scripted() as api_srv:
        origin = api_srv.base_url.rsplit("/api/v1", 1)[0]
        created = {**RUN_CREATED, "poll_url": origin + "/poll/here/run_abc123?x=1"}
        api_srv.replies[:] = [Reply(201, created), Reply(200, completed)]
        out = run(["--base-url", api_srv.base_url, "--api-key", SECRET, "generations",
                   "create", "--workspace-id", "ws_abc123", "--project-id", "prj_abc123",
                   "--type", "image", "--prompt", "mug", "--wait", "--json"])
    assert out.exit_code == 0, out.stderr
    assert api_srv.requests[1].path == "/poll/here/run_abc123?x=1"


def test_a_poll_answer_that_breaks_the_contract_exits_1() -> None:
    with scripted(Reply(201, RUN_CREATED), Reply(200, {"run_id": "run_abc123",
                                                       "status": "exploded"})) as srv:
        out = run(["--base-url", srv.base_url, "--api-key", SECRET, "generations",
                   "create", "--workspace-id", "ws_abc123", "--project-id", "prj_abc123",
                   "--type", "image", "--prompt", "mug", "--wait", "--json"])
    assert out.exit_code == 1
    assert out.error()["error"]["code"] == "invalid_response"
    assert out.error()["run_id"] == "run_abc123"
    assert out.stdout == ""


def test_polls_are_retried_on_429_with_retry_after() -> None:
    completed = {"run_id": "run_abc123", "status": "completed", "progress": 100,
                 "created_at": 1}
    limited = Reply(429, {"error": {"code": "rate_limited", "message": "Rate limit exceeded."}},
                    headers={"retry-after": "1"})
    with scripted(limited, Reply(200, completed)) as srv:
        began = time.monotonic()
        out = run(["--base-url", srv.base_url, "--api-key", SECRET, "runs", "wait",
                   "run_abc123", "--json"])
        took = time.monotonic() - began
    assert out.exit_code == 0, out.stderr
    assert out.json()["status"] == "completed"
    assert len(srv.requests) == 2
    assert took >= 0.9  # retry-after: 1 was honoured

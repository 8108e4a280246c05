"""End-to-end: `runs start-generation` / `generations create` against a real local HTTP server.

The scripted server (tests/scripted_server.py) answers exactly what a test needs, over a real
socket on 127.0.0.1 port 0, and records what the CLI sent.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import SECRET, run, run_process
from tests.scripted_server import RUN_CREATED, Reply, scripted

IDS = ["--project-id", "prj_abc123", "--workspace-id", "ws_abc123"]
START = ["runs", "start-generation", *IDS, "--type", "image", "--prompt", "a ceramic mug"]


def base(url: str) -> list[str]:
    return ["--api-key", SECRET, "--base-url", url]


def test_success_json_is_the_body_as_received() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run([*base(srv.base_url), *START, "--json"])
    assert out.exit_code == 0, out.stderr
    assert out.json() == RUN_CREATED  # unknown fields kept
    assert out.stdout.startswith("{\n  \"run_id\"")  # indented 2
    req = srv.requests[0]
    assert req.method == "POST" and req.path == "/api/v1/runs/generation"
    assert req.json() == {"type": "image", "prompt": "a ceramic mug",
                          "workspace_id": "ws_abc123", "project_id": "prj_abc123"}
    assert req.headers["authorization"] == f"Bearer {SECRET}"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "application/json"
    assert re.match(r"flora-cli/\S+ \(Python 3\.\d+; \w+\)", req.headers["user-agent"])
    assert uuid.UUID(req.headers["idempotency-key"]).version == 4
    # stderr: only the deprecation warning, one line
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert out.stderr.startswith("warning:") and "flora generations create" in out.stderr


def test_generations_create_posts_to_generate_without_warning() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        args = [*base(srv.base_url), "generations", "create", *START[2:], "--json"]
        out = run(args)
    assert out.exit_code == 0
    assert srv.requests[0].path == "/api/v1/generate"
    assert out.stderr == ""


@pytest.mark.parametrize("silence", [["--quiet"], ["-q"], []])
def test_deprecation_warning_silenced(silence: list[str]) -> None:
    env = {} if silence else {"FLORA_NO_DEPRECATION_WARNING": "1"}
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run([*base(srv.base_url), *silence, *START, "--json"], env=env)
    assert out.exit_code == 0 and out.stderr == ""


def test_global_options_before_or_after_are_the_same() -> None:
    with scripted(Reply(201, RUN_CREATED), Reply(201, RUN_CREATED)) as srv:
        before = run(["--json", "--api-key", SECRET, "--base-url", srv.base_url, *START])
        after = run([*START, "--json", "--api-key", SECRET, "--base-url", srv.base_url])
    assert before.exit_code == after.exit_code == 0
    assert before.stdout == after.stdout
    assert len(srv.requests) == 2


def test_leaf_flag_overrides_root_flag_and_env() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run(["--format", "yaml", "--base-url", "http://127.0.0.1:9/api/v1", *START,
                   "--format", "jsonl", "--base-url", srv.base_url],
                  env={"FLORA_API_KEY": SECRET, "FLORA_FORMAT": "pretty"})
    assert out.exit_code == 0
    assert out.stdout.count("\n") == 1 and json.loads(out.stdout) == RUN_CREATED


def test_environment_fills_ids_key_and_url() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run(["runs", "start-generation", "--type", "audio", "--prompt", "hum"],
                  env={"FLORA_API_KEY": SECRET, "FLORA_BASE_URL": srv.base_url,
                       "FLORA_PROJECT_ID": "prj_env", "FLORA_WORKSPACE_ID": "ws_env",
                       "FLORA_FORMAT": "json"})
    assert out.exit_code == 0, out.stderr
    body = srv.requests[0].json()
    assert body["project_id"] == "prj_env" and body["workspace_id"] == "ws_env"
    assert body["type"] == "audio"


def test_flag_beats_environment_for_ids() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run([*base(srv.base_url), *START, "--json"],
                  env={"FLORA_PROJECT_ID": "prj_env"})
    assert out.exit_code == 0
    assert srv.requests[0].json()["project_id"] == "prj_abc123"


def test_model_and_params_only_when_given_and_param_overrides() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run([*base(srv.base_url), *START, "--json", "--model", "t2i-flux-2-pro",
                   "--no-check", "--params", '{"seed": 1, "style": "flat"}', "--param", "seed=42",
                   "--param", "hdr=true", "--param", "name=plain text", "--param", "n=null"])
    assert out.exit_code == 0, out.stderr
    body = srv.requests[0].json()
    assert body["model"] == "t2i-flux-2-pro"
    assert body["params"] == {"seed": 42, "style": "flat", "hdr": True, "name": "plain text",
                              "n": None}
    assert list(body) == ["type", "prompt", "workspace_id", "project_id", "model", "params"]


def test_prompt_from_stdin_and_file(tmp_path: Path) -> None:
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("from a file\n", encoding="utf-8")
    params_file = tmp_path / "params.json"
    params_file.write_text('{"steps": 20}', encoding="utf-8")
    args = ["runs", "start-generation", *IDS, "--type", "text", "--json"]
    with scripted(Reply(201, RUN_CREATED), Reply(201, RUN_CREATED),
                  Reply(201, RUN_CREATED)) as srv:
        a = run([*base(srv.base_url), *args, "--prompt", "-"], input="from stdin\n")
        b = run([*base(srv.base_url), *args, "--prompt", f"@{prompt_file}",
                 "--params", f"@{params_file}"])
        c = run([*base(srv.base_url), *args, "--prompt", "\\@mention me",
                 "--params", "-"], input='{"x": [1]}\n')
    assert a.exit_code == b.exit_code == c.exit_code == 0
    bodies = [r.json() for r in srv.requests]
    assert bodies[0]["prompt"] == "from stdin"
    assert bodies[1]["prompt"] == "from a file" and bodies[1]["params"] == {"steps": 20}
    assert bodies[2]["prompt"] == "@mention me" and bodies[2]["params"] == {"x": [1]}


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--project-id", "proj_1"], "--project-id"),
        (["--workspace-id", "workspace"], "--workspace-id"),
        (["--type", "t2i"], "--type"),
        (["--type", "gif"], "--type"),
        (["--prompt", "   "], "--prompt"),
        (["--prompt", "@/nonexistent/prompt.txt"], "--prompt"),
        (["--params", "[1, 2]"], "--params"),
        (["--params", "{nope"], "--params"),
        (["--param", "novalue"], "--param"),
        (["--model", "t2i flux"], "--model"),
        (["--idempotency-key", "has space"], "--idempotency-key"),
        (["--timeout", "abc"], "--timeout"),
        (["--max-retries", "-1"], "--max-retries"),
        (["--format", "xml"], "--format"),
        (["--base-url", "http://api.example.com/v1"], "--base-url"),
        (["--base-url", "ftp://127.0.0.1/"], "--base-url"),
    ],
)
def test_client_side_rules_exit_2_name_the_flag_and_send_nothing(args: list[str],
                                                                  flag: str) -> None:
    with scripted() as srv:
        out = run([*base(srv.base_url), *START, "--json", *args])
    assert out.exit_code == 2, out.stderr
    assert srv.requests == []
    err = out.error()
    assert err["error"]["code"] == "usage_error"
    assert flag in err["error"]["message"]
    assert err["exit_code"] == 2
    assert out.stdout == ""


@pytest.mark.parametrize("missing", ["--type", "--prompt", "--project-id", "--workspace-id"])
def test_required_flags(missing: str) -> None:
    args = list(START)
    i = args.index(missing)
    del args[i:i + 2]
    with scripted() as srv:
        out = run([*base(srv.base_url), *args, "--json"])
    assert out.exit_code == 2
    assert missing in out.error()["error"]["message"]
    assert srv.requests == []


def test_missing_key_is_exit_4_before_sending() -> None:
    with scripted() as srv:
        out = run(["--base-url", srv.base_url, *START, "--json"])
    assert out.exit_code == 4
    err = out.error()
    assert err["error"]["code"] == "missing_api_key"
    assert "FLORA_API_KEY" in err["error"]["message"] and "--api-key" in err["error"]["message"]
    assert srv.requests == []


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [(400, "input_validation_error", 3), (400, "invalid_json", 3), (401, "unauthorized", 4),
     (401, "invalid_api_key", 4), (402, "insufficient_credits", 6), (403, "forbidden", 4),
     (404, "not_found", 5), (409, "idempotency_duplicate", 8),
     (422, "idempotency_conflict", 8), (429, "rate_limited", 7), (500, "unknown_error", 9)],
)
def test_api_errors_exit_codes_and_json_error_line(status: int, code: str,
                                                    exit_code: int) -> None:
    api_error = {"code": code, "message": "Nope.",
                 "fields": [{"field": "prompt", "message": "Required"}]}
    headers = {"request-id": "req_err1", "retry-after-ms": "0"}
    replies = [Reply(status, {"error": api_error}, headers)] * 3
    with scripted(*replies) as srv:
        out = run([*base(srv.base_url), "--max-retries", "2", "-q", *START, "--json",
                   "--idempotency-key", "idem-e2e"], env={})
    assert out.exit_code == exit_code
    assert out.stdout == ""
    doc = out.error()
    assert doc == {"error": api_error, "http_status": status, "request_id": "req_err1",
                   "idempotency_key": "idem-e2e", "exit_code": exit_code}
    retried = status in (429, 500)
    assert len(srv.requests) == (3 if retried else 1)


def test_retry_after_over_60s_fails_at_once() -> None:
    with scripted(Reply(429, {"error": {"code": "rate_limited", "message": "Slow down."}},
                        {"retry-after": "120"})) as srv:
        out = run([*base(srv.base_url), *START, "--json"])
    assert out.exit_code == 7
    assert len(srv.requests) == 1
    assert "try again after" in out.stderr


def test_lost_response_is_explained_not_rerun() -> None:
    dup = {"error": {"code": "idempotency_duplicate", "message": "Duplicate idempotency key."}}
    with scripted(Reply(drop=True), Reply(409, dup)) as srv:
        out = run([*base(srv.base_url), *START, "--json", "--idempotency-key", "k-lost"])
    assert out.exit_code == 8
    keys = {r.headers["idempotency-key"] for r in srv.requests}
    assert keys == {"k-lost"} and len(srv.requests) == 2
    assert "most likely started the run" in out.stderr
    assert "Do not run the command again" in out.stderr
    assert out.error()["idempotency_key"] == "k-lost"


def test_replayed_answer_is_success_with_a_note() -> None:
    with scripted(Reply(201, RUN_CREATED, {"idempotent-replayed": "true"})) as srv:
        out = run([*base(srv.base_url), *START, "--json", "--idempotency-key", "again"])
    assert out.exit_code == 0
    assert out.json() == RUN_CREATED
    assert "replayed" in out.stderr and "no new run" in out.stderr


@pytest.mark.parametrize("reply", [Reply(201, b"<html>hi</html>"), Reply(201, {"ok": True}),
                                   Reply(201, [1, 2])])
def test_contract_breaking_success_is_exit_1(reply: Reply) -> None:
    with scripted(reply) as srv:
        out = run([*base(srv.base_url), *START, "--json"])
    assert out.exit_code == 1
    assert out.error()["error"]["code"] == "invalid_response"


def test_unreachable_is_exit_9() -> None:
    with scripted() as srv:
        url = srv.base_url
    out = run(["--api-key", SECRET, "--base-url", url, "--max-retries", "0", *START, "--json"])
    assert out.exit_code == 9
    assert out.error()["error"]["code"] == "connection_error"


def test_formats() -> None:
    replies = [Reply(201, RUN_CREATED)] * 7
    with scripted(*replies) as srv:
        b = base(srv.base_url)
        jsonl = run([*b, *START, "--format", "jsonl"])
        yml = run([*b, *START, "--format", "yaml"])
        raw = run([*b, *START, "--format", "raw"])
        query = run([*b, *START, "--json", "--query", "model.model_id"])
        bare = run([*b, *START, "--json", "--query", "run_id", "-r"])
        auto = run([*b, *START])  # not a terminal: json
        pretty = run([*b, *START, "--format", "pretty", "--no-color"])
    assert json.loads(jsonl.stdout) == RUN_CREATED and jsonl.stdout.count("\n") == 1
    assert yaml.safe_load(yml.stdout) == RUN_CREATED
    assert raw.stdout == json.dumps(RUN_CREATED)  # the bytes as the server sent them
    assert query.stdout == '"t2i-flux-2-pro"\n'
    assert bare.stdout == "run_abc123\n"
    assert json.loads(auto.stdout) == RUN_CREATED
    for text in ("run_abc123", "t2i-flux-2-pro", "about 12 s", "$0.04",
                 "https://app.flora.ai/api/v1/runs/run_abc123", "flora runs wait run_abc123"):
        assert text in pretty.stdout
    assert "\x1b[" not in pretty.stdout


def test_bad_query_is_usage_error() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run([*base(srv.base_url), *START, "--json", "--query", "[[["])
    assert out.exit_code == 2
    assert "--query" in out.error()["error"]["message"]
    assert srv.requests == []  # checked before anything is sent


def test_pretty_error_panel() -> None:
    body = {"error": {"code": "insufficient_credits", "message": "Insufficient credits."}}
    with scripted(Reply(402, body, {"request-id": "req_402"})) as srv:
        out = run([*base(srv.base_url), *START, "--format", "pretty", "--no-color"])
    assert out.exit_code == 6
    for text in ("insufficient_credits", "Insufficient credits.", "req_402", "402", "top up"):
        assert text in out.stderr
    assert out.stdout == ""


def test_dry_run_sends_nothing_and_redacts() -> None:
    with scripted() as srv:
        out = run([*base(srv.base_url), *START, "--json", "--dry-run", "--model", "m1",
                   "--idempotency-key", "dry-1"])
    assert out.exit_code == 0
    assert srv.requests == []
    doc = out.json()
    assert doc["method"] == "POST"
    assert doc["url"] == srv.base_url + "/runs/generation"
    assert doc["headers"]["Authorization"] == "Bearer sk_test_…[REDACTED]"
    assert doc["headers"]["Idempotency-Key"] == "dry-1"
    assert doc["body"]["model"] == "m1"


def test_debug_trace_on_stderr_with_key_redacted() -> None:
    with scripted(Reply(503, {"error": {"code": "unknown_error", "message": "x"}},
                        {"retry-after-ms": "10"}), Reply(201, RUN_CREATED)) as srv:
        out = run([*base(srv.base_url), "--debug", *START, "--json"])
    assert out.exit_code == 0
    assert out.json() == RUN_CREATED  # stdout untouched by the trace
    assert "> POST " in out.stderr and "< 503" in out.stderr and "< 201" in out.stderr
    assert "retrying in" in out.stderr
    assert "request-id: req_scripted" in out.stderr
    assert "Bearer sk_test_…[REDACTED]" in out.stderr


def test_key_never_printed_even_when_echoed_back() -> None:
    body = {"error": {"code": "invalid_api_key", "message": f"Key {SECRET} was revoked."}}
    with scripted(Reply(401, body)) as srv:
        out = run([*base(srv.base_url), *START, "--json"])  # run() asserts SECRET is absent
    assert out.exit_code == 4
    assert "sk_test_…[REDACTED]" in out.stderr


def test_subprocess_round_trip_and_broken_pipe() -> None:
    big = {**RUN_CREATED, "pad": "x" * 200_000}
    with scripted(Reply(201, RUN_CREATED), Reply(201, big)) as srv:
        out = run_process([*base(srv.base_url), *START, "--json"])
        assert out.exit_code == 0 and out.json() == RUN_CREATED
        import subprocess
        import sys

        proc = subprocess.run(
            f"{sys.executable} -m flora_cli --api-key {SECRET} --base-url {srv.base_url} "
            f"-q {' '.join(START[:-1])} 'a mug' --json | head -c 10",
            shell=True, capture_output=True, text=True, timeout=60)
    assert proc.stdout == '{\n  "run_id'[:10]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert proc.stderr == ""


def test_unparsable_base_url_is_a_usage_error() -> None:
    out = run_process(["runs", "start-generation", "--json", *IDS, "--type", "image",
                       "--prompt", "x"], env={"FLORA_API_KEY": SECRET,
                                              "FLORA_BASE_URL": "http://[::1"})
    assert out.exit_code == 2  # an unparsable URL is a usage error, not a crash


@pytest.mark.parametrize(("cost", "text"), [(0, "$0.00"), (0.5, "$0.50"), (0.04, "$0.04"),
                                            (0.0125, "$0.0125"), (1234.5, "$1,234.50")])
def test_pretty_cost(cost: float, text: str) -> None:
    from flora_cli.output.pretty import _cost

    assert _cost(cost) == text

"""`models`, `workspaces`, `projects`: against the sandbox and a scripted real-socket server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from flora_cli import cache
from flora_cli.sandbox.seed import MODEL_DOCS, PROJECTS
from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, run, run_process
from tests.scripted_server import Reply, scripted

WS_PROJECTS = [p.project_id for p in PROJECTS if p.workspace_id == "ws_sandbox"]


def api(box: RunningSandbox | str, *args: str) -> list[str]:
    base = box if isinstance(box, str) else box.base_url
    return ["--api-key", SECRET, "--base-url", base, *args]


def test_the_sandbox_seeds_24_projects() -> None:
    assert len(WS_PROJECTS) == 24


# --- projects: pagination ------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["1", "5", "7", "24", "100"])
def test_all_follows_every_page(sandbox: RunningSandbox, limit: str) -> None:
    out = run(api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--limit", limit,
                  "--all", "--json"))
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert [p["project_id"] for p in doc["projects"]] == WS_PROJECTS
    assert doc["meta"]["next_cursor"] is None
    assert doc["meta"]["total_estimate"] == 24


def test_one_page_by_default_is_the_api_answer(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--limit", "7",
                  "--format", "raw"))
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [p["project_id"] for p in doc["projects"]] == WS_PROJECTS[:7]
    assert doc["meta"]["next_cursor"]
    nxt = run(api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--limit", "7",
                  "--cursor", doc["meta"]["next_cursor"], "--json")).json()
    assert [p["project_id"] for p in nxt["projects"]] == WS_PROJECTS[7:14]


@pytest.mark.parametrize(("limit", "max_items"), [(None, "10"), ("3", "10"), ("5", "30"),
                                                  ("100", "1")])
def test_max_items(sandbox: RunningSandbox, limit: str | None, max_items: str) -> None:
    args = ["projects", "list", "--workspace-id", "ws_sandbox", "--max-items", max_items,
            "--format", "jsonl"]
    if limit:
        args += ["--limit", limit]
    out = run(api(sandbox, *args))
    assert out.exit_code == 0, out.stderr
    ids = [json.loads(line)["project_id"] for line in out.stdout.splitlines()]
    assert ids == WS_PROJECTS[: int(max_items)]


def test_every_format(sandbox: RunningSandbox) -> None:
    base = api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--limit", "5",
               "--all")
    yaml_out = run([*base, "--format", "yaml"])
    import yaml

    assert [p["project_id"] for p in yaml.safe_load(yaml_out.stdout)["projects"]] == WS_PROJECTS
    jsonl = run([*base, "--format", "jsonl"])
    assert len(jsonl.stdout.splitlines()) == 24
    raw = run([*base, "--format", "raw"])
    assert len(json.loads(raw.stdout)["projects"]) == 24
    query = run([*base, "--json", "--query", "projects[].project_id"])
    assert query.json() == WS_PROJECTS
    bare = run([*base, "--format", "jsonl", "--query", "projects[].project_id", "-r"])
    assert bare.stdout.splitlines() == WS_PROJECTS


def test_pretty_table_never_cuts_an_id(sandbox: RunningSandbox) -> None:
    for columns in ("100", "40"):
        out = run(api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--all",
                      "--format", "pretty"), env={"COLUMNS": columns})
        assert out.exit_code == 0, out.stderr
        for project_id in WS_PROJECTS:
            assert f" {project_id} " in out.stdout, (columns, project_id, out.stdout)


def test_pretty_page_says_how_to_get_more(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--limit", "5",
                  "--format", "pretty"))
    assert "prj_sandbox_05" in out.stdout and "prj_sandbox_06" not in out.stdout
    assert "--all, or --cursor" in out.stderr


def test_search(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--search",
                  "LOOKBOOK", "--all", "--json"))
    assert [p["name"] for p in out.json()["projects"]] == ["Spring lookbook",
                                                            "Lookbook retouch"]


def test_workspace_from_the_environment_and_sandbox(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "projects", "list", "--json"),
              env={"FLORA_WORKSPACE_ID": "ws_broke"})
    assert [p["project_id"] for p in out.json()["projects"]] == ["prj_broke"]
    embedded = run(["--sandbox", "projects", "list", "--all", "--json"])
    assert embedded.exit_code == 0, embedded.stderr
    assert len(embedded.json()["projects"]) == 24


def test_unknown_workspace_is_not_found(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "projects", "list", "--workspace-id", "ws_nobody", "--json"))
    assert out.exit_code == 5 and out.error()["error"]["code"] == "not_found"


def test_jsonl_streams_pages_as_they_arrive() -> None:
    gate = threading.Event()
    project = {"project_id": "prj_1", "name": "one", "workspace_id": "ws_1", "origin": None,
               "last_modified": None, "created_at": 1}
    page1: dict[str, Any] = {"projects": [project], "meta": {"next_cursor": "c2"}}
    page2 = {"projects": [{**page1["projects"][0], "project_id": "prj_2"}],
             "meta": {"next_cursor": None}}
    with scripted(Reply(200, page1), Reply(200, page2, gate=gate)) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flora_cli", *api(server.base_url, "projects", "list",
                                                     "--workspace-id", "ws_1", "--all",
                                                     "--format", "jsonl")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # arrives while page 2 is held back
            assert json.loads(first)["project_id"] == "prj_1"
            assert proc.poll() is None
            gate.set()
            rest, _ = proc.communicate(timeout=60)
        finally:
            gate.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert json.loads(rest)["project_id"] == "prj_2"
        assert proc.returncode == 0


# --- projects: a scripted server -----------------------------------------------------------


def _page(ids: list[str], cursor: str | None) -> dict[str, Any]:
    return {"projects": [{"project_id": i, "name": i, "workspace_id": "ws_1", "origin": "api",
                          "last_modified": None, "created_at": 1} for i in ids],
            "meta": {"next_cursor": cursor}}


def test_a_repeating_cursor_is_an_invalid_response() -> None:
    with scripted(Reply(200, _page(["prj_1"], "c1")), Reply(200, _page(["prj_2"], "c2")),
                  Reply(200, _page(["prj_3"], "c1"))) as server:
        out = run(api(server.base_url, "projects", "list", "--workspace-id", "ws_1", "--all",
                      "--json"))
        assert out.exit_code == 1
        error = out.error()
        assert error["error"]["code"] == "invalid_response"
        assert "same meta.next_cursor twice" in error["error"]["message"]
        assert len(server.requests) == 3


def test_a_cursor_given_back_as_the_next_one_is_a_loop_too() -> None:
    with scripted(Reply(200, _page(["prj_9"], "same"))) as server:
        out = run(api(server.base_url, "projects", "list", "--workspace-id", "ws_1",
                      "--cursor", "same", "--all", "--json"))
        assert out.exit_code == 1 and len(server.requests) == 1


def test_an_empty_page_ends_the_listing() -> None:
    with scripted(Reply(200, _page(["prj_1", "prj_2"], "c1")),
                  Reply(200, _page([], "c2"))) as server:
        out = run(api(server.base_url, "projects", "list", "--workspace-id", "ws_1", "--all",
                      "--json"))
        assert out.exit_code == 0, out.stderr
        assert [p["project_id"] for p in out.json()["projects"]] == ["prj_1", "prj_2"]
        assert out.json()["meta"]["next_cursor"] is None
        assert len(server.requests) == 2


def test_a_429_mid_pagination_is_retried() -> None:
    limited = Reply(429, {"error": {"code": "rate_limited", "message": "Rate limit exceeded."}},
                    headers={"retry-after": "0"})
    with scripted(Reply(200, _page(["prj_1"], "c1")), limited,
                  Reply(200, _page(["prj_2"], None))) as server:
        out = run(api(server.base_url, "projects", "list", "--workspace-id", "ws_1", "--limit",
                      "1", "--all", "--format", "jsonl"))
        assert out.exit_code == 0, out.stderr
        assert [json.loads(x)["project_id"] for x in out.stdout.splitlines()] == ["prj_1",
                                                                                  "prj_2"]
        paths = [r.path for r in server.requests]
        assert len(paths) == 3 and paths[1] == paths[2] and "cursor=c1" in paths[2]
        assert "limit=1" in paths[0] and "workspace_id=ws_1" in paths[0]


@pytest.mark.parametrize("body", [
    {"projects": "nope", "meta": {"next_cursor": None}},
    {"projects": []},
    {"projects": [{"name": "no id"}], "meta": {"next_cursor": None}},
    {"projects": [], "meta": {"next_cursor": 5}},
    [1, 2],
])
def test_a_broken_projects_page_is_invalid_response(body: Any) -> None:
    with scripted(Reply(200, body)) as server:
        out = run_process(api(server.base_url, "projects", "list", "--workspace-id", "ws_1",
                              "--json"))
        assert out.exit_code == 1
        assert out.error()["error"]["code"] == "invalid_response"


# --- bad input: exit 2, nothing sent ------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["models", "list", "--type", "t2v"],
    ["models", "list", "--type", "movies-please"],
    ["models", "get", "bad id"],
    ["projects", "list", "--workspace-id", "ws_1", "--limit", "0"],
    ["projects", "list", "--workspace-id", "ws_1", "--limit", "101"],
    ["projects", "list", "--workspace-id", "ws_1", "--cursor", "has space"],
    ["projects", "list", "--workspace-id", "ws_1", "--cursor", "é"],
    ["projects", "list", "--workspace-id", "ws_1", "--cursor", ""],
    ["projects", "list", "--workspace-id", "abc123"],
    ["projects", "list", "--workspace-id", "ws_1", "--all", "--max-items", "3"],
    ["projects", "list", "--workspace-id", "ws_1", "--max-items", "0"],
    ["projects", "list"],
])
def test_bad_input_exits_2_and_sends_nothing(args: list[str]) -> None:
    with scripted() as server:
        out = run(api(server.base_url, "--json", *args))
        assert out.exit_code == 2, (out.stdout, out.stderr)
        assert out.error()["error"]["code"] == "usage_error"
        assert server.requests == []


def test_a_missing_workspace_says_where_to_find_one() -> None:
    with scripted() as server:
        out = run(api(server.base_url, "projects", "list"))
        assert "flora workspaces list" in out.stderr and "FLORA_WORKSPACE_ID" in out.stderr


# --- models and workspaces -----------------------------------------------------------------


def test_models_list_and_filter(sandbox: RunningSandbox) -> None:
    every = run(api(sandbox, "models", "list", "--json")).json()
    assert [m["model_id"] for m in every["models"]] == list(MODEL_DOCS)
    videos = run(api(sandbox, "models", "list", "--type", "VIDEO", "--format", "jsonl"))
    assert [json.loads(x)["model_id"] for x in videos.stdout.splitlines()] == [
        "t2v-kling-2-1", "t2v-veo-3"]


def test_models_list_pretty(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "models", "list", "--format", "pretty"), env={"COLUMNS": "60"})
    for model_id in MODEL_DOCS:
        assert f" {model_id} " in out.stdout
    wide = run(api(sandbox, "models", "list", "--format", "pretty"))
    assert "FLUX.1 Kontext (beta)" in wide.stdout


def test_models_get(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "models", "get", "t2i-flux-2-pro", "--json"))
    assert out.json() == MODEL_DOCS["t2i-flux-2-pro"]
    pretty = run(api(sandbox, "models", "get", "t2v-kling-2-1", "--format", "pretty"))
    for words in ("duration", "5 or 10", "cfg_scale", "0 … 1", "50 credits", "~60 s"):
        assert words in pretty.stdout, words


def test_models_get_unknown_suggests(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "models", "get", "t2i-flux-pro", "--json"))
    assert out.exit_code == 5
    assert "did you mean t2i-flux-2-pro" in out.error()["error"]["message"]


def test_workspaces_list(sandbox: RunningSandbox) -> None:
    out = run(api(sandbox, "workspaces", "list", "--json"))
    assert [w["workspace_id"] for w in out.json()["workspaces"]] == ["ws_sandbox", "ws_broke"]
    pretty = run(api(sandbox, "workspaces", "list", "--format", "pretty"))
    assert " ws_sandbox " in pretty.stdout and "owner" in pretty.stdout


@pytest.mark.parametrize("body", [
    {"models": [{"model_id": "x"}]},
    {"models": [{**MODEL_DOCS["t2i-flux-2-pro"], "params": [{"name": "n", "type": "number",
                                                              "required": False}]}]},
    {"models": {"a": 1}},
    {"nothing": []},
])
def test_a_broken_model_list_is_invalid_response(body: Any) -> None:
    with scripted(Reply(200, body), Reply(200, body)) as server:
        for args in (["models", "list"], ["models", "get", "x"]):
            out = run_process(api(server.base_url, *args, "--json"))
            assert out.exit_code == 1, out.stderr
            assert out.error()["error"]["code"] == "invalid_response"


def test_network_text_in_tables_is_made_safe() -> None:
    evil = {"workspaces": [{"workspace_id": "ws_\x1b[31mred", "name": "\x1b]0;title\x07x",
                            "created_at": None, "role": "owner\x9b"}]}
    with scripted(Reply(200, evil)) as server:
        out = run(api(server.base_url, "workspaces", "list", "--format", "pretty"))
        assert out.exit_code == 0, out.stderr
        assert "\x1b" not in out.stdout and "\x9b" not in out.stdout and "\x07" not in out.stdout
        assert "\\x1b" in out.stdout


# --- the cache ------------------------------------------------------------------------------


def test_lists_fill_the_cache_without_the_key(sandbox: RunningSandbox, tmp_path: Path) -> None:
    env = {"FLORA_CACHE_DIR": str(tmp_path)}
    run(api(sandbox, "models", "list", "--json"), env=env)
    run(api(sandbox, "workspaces", "list", "--json"), env=env)
    run(api(sandbox, "projects", "list", "--workspace-id", "ws_sandbox", "--json"), env=env)
    files = sorted(p for p in tmp_path.rglob("*.json"))
    assert len(files) == 3
    for path in files:
        assert SECRET not in path.read_text() and SECRET not in str(path)
        assert SECRET[8:] not in path.read_text()
        assert os.stat(path.parent).st_mode & 0o077 == 0
    os.environ["FLORA_CACHE_DIR"] = str(tmp_path)
    try:
        cached = cache.read(sandbox.base_url, SECRET, "models")
        assert cached is not None and cached["models"][0]["model_id"] == "t2i-flux-2-pro"
        assert cache.read(sandbox.base_url, "sk_test_other_key", "models") is None
        assert cache.read(sandbox.base_url, SECRET, "models", ttl=0) is None
    finally:
        del os.environ["FLORA_CACHE_DIR"]

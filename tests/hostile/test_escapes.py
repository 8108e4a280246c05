"""SPEC §6.1 "Terminal safety" and "The key stays secret on every path": escape sequences from
a server never reach the terminal raw (error line, JSON line, panels, status lines, ids,
poll_url, request-id, reason phrase), and an echo of the key is redacted everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.helpers import api, flora, start
from tests.hostile.rawserver import (
    HOSTILE_TEXT,
    RUN,
    SECRET,
    json_reply,
    raw_server,
    respond,
    run_doc,
)

ESC_ID = "run_\u001b]0;pwned\u0007x"


@pytest.mark.parametrize("fmt", ["json", "pretty"])
def test_an_error_message_with_escapes_is_made_visible(fmt: str) -> None:
    # before: written raw on the error: line and in the panel
    body = {"error": {"code": "input_validation_error\u001b[2J", "message": HOSTILE_TEXT,
                      "fields": [{"field": "prompt\u001b[31m", "message": HOSTILE_TEXT}]}}
    with raw_server({"/api/v1/generate": json_reply(
            400, body, {"request-id": "req_\u001b[2Jx"}, reason="Bad\u001b[2J")}) as srv:
        out = flora([*api(srv), "--format", fmt, *start(srv)[4:]])
    assert out.exit_code == 3
    assert "\\x1b" in out.stderr  # visible, not interpreted
    if fmt == "json":
        assert out.error()["error"]["message"] == HOSTILE_TEXT  # JSON keeps it, escaped


def test_the_pretty_panel_redacts_the_key_in_fields() -> None:
    # before: the panel printed `fields` unredacted; the JSON line redacted them
    body = {"error": {"code": "input_validation_error", "message": f"key {SECRET} refused",
                      "fields": [{"field": "authorization",
                                  "message": f"Bearer {SECRET} is not allowed"}]}}
    with raw_server({"/api/v1/generate": json_reply(400, body)}) as srv:
        out = flora([*api(srv), "--format", "pretty", *start(srv)[4:]])
    assert out.exit_code == 3
    assert "authorization" in out.stderr and "REDACTED" in out.stderr


def test_run_ids_poll_url_and_status_lines_are_made_visible(tmp_path: Path) -> None:
    doc = run_doc("completed", [{"output_id": "o\u001b[2J1", "type": "text",
                                 "url": HOSTILE_TEXT}])
    doc["run_id"] = ESC_ID
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, {
            "run_id": ESC_ID, "poll_url": f"{srv.base_url}/runs/\u001b[2J"}),
        "/api/v1/runs/run_%1B%5D0%3Bpwned%07x": json_reply(200, doc),
    }) as srv:
        out = flora(start(srv, "--download", str(tmp_path)))
    assert out.exit_code == 0, out.stderr
    assert "run run_\\x1b]0;pwned\\x07x: completed" in out.stderr
    assert out.json()["run_id"] == ESC_ID  # stdout is JSON, escapes escaped
    [saved] = tmp_path.iterdir()
    assert "\u001b" not in saved.name


def test_pretty_output_of_a_run_makes_escapes_visible() -> None:
    doc = run_doc("failed", error_code="x\u001b[2J", error_message=HOSTILE_TEXT)
    with raw_server({f"/api/v1/runs/{RUN}": json_reply(200, doc)}) as srv:
        out = flora([*api(srv), "runs", "get", RUN, "--format", "pretty"])
    assert out.exit_code == 0
    assert "\\x1b" in out.stdout


def test_a_download_error_shows_the_reason_phrase_safely(tmp_path: Path) -> None:
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": json_reply(403, b"no", reason="Forbidden\u001b]0;title\u0007"),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path)])
    assert out.exit_code == 9
    assert "Forbidden\\x1b]0;title\\x07" in out.stderr


def test_debug_traces_are_safe_and_redacted() -> None:
    with raw_server({"/api/v1/generate": json_reply(
            500, {"error": {"code": "x", "message": HOSTILE_TEXT + SECRET}},
            {"x-echo": f"Bearer {SECRET}\u001b[2J"})}) as srv:
        out = flora(start(srv, "--debug", "--max-retries", "0"))
    assert out.exit_code == 9
    assert "Bearer sk_test_…[REDACTED]" in out.stderr

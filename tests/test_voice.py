"""What people see: one usage-error look, hints that are true, a run never hidden, -r on
arrays, --text, and the rendered panels and progress line at fixed widths. Each test failed on
the code before issue 11 (commit ab496fe)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from flora_cli.output import progress
from flora_cli.output.console import _THEME
from flora_cli.output.pretty import render_run, render_run_created
from flora_cli.redact import scrub
from tests.cli_helpers import SECRET, run
from tests.scripted_server import Reply, scripted

ROOT = Path(__file__).resolve().parent.parent
START = ["runs", "start-generation", "--project-id", "prj_1", "--workspace-id", "ws_1",
         "--type", "image", "--prompt", "p"]
CREATED = {"run_id": "run_abc123", "type": "generation", "estimated_seconds": 8,
           "charged_cost": 0.04, "poll_url": "http://127.0.0.1:1/api/v1/runs/run_abc123"}


def api(base_url: str) -> list[str]:
    return ["--base-url", base_url, "--api-key", SECRET, "--max-retries", "0"]


# -- one usage error, one look ----------------------------------------------------------


def test_a_bare_group_in_a_pipe_says_missing_command_briefly() -> None:
    for args, names in (([], "generations, "), (["runs"], "get, ")):
        out = run(args)
        assert out.exit_code == 2
        err = out.error()
        assert err["error"]["code"] == "usage_error"
        assert err["error"]["message"].startswith("missing command")
        assert names in err["error"]["message"]
        assert len(out.stderr.splitlines()) == 3  # error:, hint:, the JSON line
        assert "Usage:" not in out.stderr


def test_a_bad_choice_gets_did_you_mean_and_the_same_json_line() -> None:
    out = run(["--json", *START[:-4], "--type", "imag", "--prompt", "p"])
    assert out.exit_code == 2
    lines = out.stderr.splitlines()
    assert lines[0].startswith("error: ") and "did you mean 'image'" in lines[0]
    assert lines[1] == "hint: See 'flora runs start-generation --help'."
    assert out.error()["error"]["code"] == "usage_error"


def test_click_and_flora_usage_errors_render_alike_in_pretty() -> None:
    bad_choice = run(["--format", "pretty", *START[:-4], "--type", "imag", "--prompt", "p"])
    bad_query = run(["--format", "pretty", "--query", "[", *START])
    for out in (bad_choice, bad_query):
        assert out.exit_code == 2
        assert "Error: usage_error" in out.stderr and "╭" in out.stderr
        assert "Usage:" not in out.stderr and "Try '" not in out.stderr


def test_sandbox_serve_on_a_busy_port_ends_with_a_json_line() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run(["--json", "sandbox", "serve", "--port", str(port)])
    assert out.exit_code == 1
    assert out.error()["error"]["code"] == "listen_failed"


# -- hints that are true ----------------------------------------------------------------


def test_a_404_on_a_run_talks_about_the_run_not_workspaces() -> None:
    with scripted(Reply(404, {"error": {"code": "not_found", "message": "Run not found"}})) as s:
        out = run(["--json", *api(s.base_url), "runs", "get", "run_nope"])
    assert out.exit_code == 5
    hint = out.stderr.splitlines()[1]
    assert "run_nope" in hint and "workspace" in hint and "list workspaces" not in hint


def test_a_501_does_not_claim_it_was_retried() -> None:
    with scripted(Reply(501, {"error": {"code": "unknown_error", "message": "nope"}})) as s:
        out = run(["--json", *api(s.base_url), *START])
    assert out.exit_code == 9
    hint = out.stderr.splitlines()[-2]
    assert "it was retried" not in hint and "not retried" in hint


def test_a_retried_500_says_how_often() -> None:
    err = {"error": {"code": "unknown_error", "message": "boom"}}
    with scripted(Reply(500, err), Reply(500, err)) as s:
        out = run(["--json", "--base-url", s.base_url, "--api-key", SECRET, "--max-retries",
                   "1", *START])
    assert "tried 2 times" in out.stderr.splitlines()[-2]


def test_a_query_that_fails_at_run_time_does_not_hide_the_run() -> None:
    with scripted(Reply(201, CREATED)) as s:
        out = run(["--json", *api(s.base_url), "--query", "abs(run_id)", *START])
    assert out.exit_code == 1  # not 2: something was sent, a run exists
    doc = out.error()
    assert doc["run_id"] == "run_abc123" and doc["error"]["code"] == "query_failed"
    assert doc["idempotency_key"]
    assert "flora runs wait run_abc123" in out.stderr


def test_wait_timeout_keeps_the_idempotency_key_of_the_create() -> None:
    running = {"run_id": "run_abc123", "status": "running", "progress": 10}
    with scripted(Reply(201, CREATED), *[Reply(200, running)] * 5) as s:
        out = run(["--json", *api(s.base_url), *START, "--idempotency-key", "k-1", "--wait",
                   "--poll-interval", "0.5", "--wait-timeout", "0.2"])
    assert out.exit_code == 124
    doc = out.error()
    assert doc["idempotency_key"] == "k-1" and doc["run_id"] == "run_abc123"
    assert "hint: Resume with: flora runs wait run_abc123" in out.stderr


def test_under_sandbox_the_next_step_is_one_that_works() -> None:
    out = run(["--format", "pretty", "--sandbox", "generations", "create", "--type", "image",
               "--prompt", "p"], env={"COLUMNS": "120"})
    assert out.exit_code == 0, out.stderr
    assert "flora runs wait" not in out.stdout
    assert "--wait" in out.stdout and "flora sandbox serve" in out.stdout


# -- small things -----------------------------------------------------------------------


def test_a_prefix_only_key_is_redacted_once() -> None:
    assert scrub("Bearer sk_test_…[REDACTED]", "sk_test_") == "Bearer sk_test_…[REDACTED]"
    assert scrub("key sk_test_ here", "sk_test_") == "key sk_test_…[REDACTED] here"


def test_raw_output_on_an_array_of_strings() -> None:
    with scripted(Reply(201, CREATED)) as s:
        out = run([*api(s.base_url), "-r", "--query", "[run_id, type]", *START])
    assert out.stdout == "run_abc123\ngeneration\n"


def test_text_prints_a_text_run_straight_to_stdout() -> None:
    done = {"run_id": "run_abc123", "status": "completed", "progress": 100,
            "outputs": [{"output_id": "o1", "type": "text", "url": "a haiku\nin two lines"}]}
    with scripted(Reply(201, CREATED), Reply(200, done)) as s:
        out = run([*api(s.base_url), *START, "--wait", "--text"])
    assert out.exit_code == 0, out.stderr
    assert out.stdout == "a haiku\nin two lines\n"


def test_text_without_wait_is_a_usage_error() -> None:
    out = run(["--json", "--sandbox", "generations", "create", "--type", "text", "--prompt",
               "p", "--text"])
    assert out.exit_code == 2 and "--text only applies" in out.error()["error"]["message"]


# -- rendering at fixed widths ----------------------------------------------------------


def _console(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, theme=_THEME, color_system=None,
                   force_terminal=False, highlight=False), buf


@pytest.mark.parametrize(("width", "expected"), [
    (60, "⠋ run_0a24efb8790ea13a  running    48%  7 s  ~8 s left"),
    (80, "⠋ run_0a24efb8790ea13a  running    48%  7 s  ~8 s left of 15 s"),
    (120, "⠋ run_0a24efb8790ea13a  running   ━━━━━━━━━━━━━━╺───────────────  48%  7 s  "
          "~8 s left of 15 s"),
])
def test_wait_line_at_fixed_widths(width: int, expected: str) -> None:
    line = progress.wait_line("run_0a24efb8790ea13a", "running", 48.0, 7.2, 15.0, width, "⠋")
    assert line.plain == expected
    assert line.cell_len < width  # never wraps


@pytest.mark.parametrize("width", [30, 40, 60, 79, 80, 100, 120])
@pytest.mark.parametrize("status", ["pending", "running", "completed", "failed"])
def test_wait_line_never_reaches_the_edge(width: int, status: str) -> None:
    line = progress.wait_line("run_0123456789abcdef", status, 93.0, 75.0, 75.0, width, "⠋")
    assert line.cell_len < width


@pytest.mark.parametrize(("elapsed", "percent", "text"), [
    (14.5, 93.0, "~1 s left of 15 s"),       # not "over the estimate" before it passed
    (16.0, 93.0, "over the 15 s estimate"),
    (7.0, 48.0, "~8 s left of 15 s"),        # 48 % of 15 s done: about 8 s left, not 5
    (2.0, None, "~13 s left of 15 s"),
])
def test_estimate_agrees_with_the_percent(elapsed: float, percent: float | None,
                                          text: str) -> None:
    assert progress.estimate_text(15.0, elapsed, percent, "running") == text


LONG_URL = "https://app.flora.ai/api/v1/runs/run_0a24efb8790ea13a?x=" + "abcdef0123" * 6


@pytest.mark.parametrize("width", [60, 80, 120])
def test_run_panel_never_breaks_a_url(width: int) -> None:
    console, buf = _console(width)
    render_run_created(console, {**CREATED, "poll_url": LONG_URL})
    text = buf.getvalue()
    assert LONG_URL in text.replace("\n", "") and LONG_URL in text  # whole, on one line
    assert all(len(line) <= width for line in text.splitlines() if "╭" in line or "│" in line)


def test_run_panel_at_80_columns() -> None:
    console, buf = _console(80)
    render_run_created(console, CREATED)
    assert buf.getvalue() == (
        "╭─ Run started ────────────────────────────────────────╮\n"
        "│ run id     run_abc123                                │\n"
        "│ type       generation                                │\n"
        "│ model      workspace default                         │\n"
        "│ estimated  about 8 s                                 │\n"
        "│ cost       $0.04                                     │\n"
        "│ poll url   http://127.0.0.1:1/api/v1/runs/run_abc123 │\n"
        "│ next       flora runs wait run_abc123                │\n"
        "╰──────────────────────────────────────────────────────╯\n"
    )


@pytest.mark.parametrize("width", [60, 80, 120])
def test_failed_run_panel_fits(width: int) -> None:
    console, buf = _console(width)
    render_run(console, {"run_id": "run_abc123", "status": "failed", "progress": 55.6,
                         "error_code": "safety_blocked",
                         "error_message": "The prompt was blocked by the safety filter.",
                         "created_at": 1700000000})
    text = buf.getvalue()
    assert "Run failed" in text and "safety_blocked" in text
    assert all(len(line) <= width for line in text.splitlines())
    assert re.search(r"created\s+2023-11-1\d \d\d:\d\d:\d\d \S+", text)  # with a time zone


def test_a_stopped_wait_leaves_no_spinner(monkeypatch: pytest.MonkeyPatch) -> None:
    from flora_cli.api.polling import RunState
    from flora_cli.settings import resolve

    captured = io.StringIO()
    monkeypatch.setattr("sys.stderr", captured)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    settings = resolve({"no_color": True}, env={}, stdout_isatty=False)
    with pytest.raises(KeyboardInterrupt), progress.BarDisplay(settings, "run_abc", 10) as d:
        d.update(RunState({"run_id": "run_abc", "status": "running", "progress": 20}, b""))
        raise KeyboardInterrupt
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", captured.getvalue()).replace("\r", "\n")
    final = [line for line in last.splitlines() if "run_abc" in line][-1]
    assert final.startswith("■ run_abc"), final


# -- man pages --------------------------------------------------------------------------


@pytest.mark.skipif(not (shutil.which("man") and shutil.which("groff")), reason="no man/groff")
def test_man_pages_render_without_warnings_in_the_c_locale() -> None:
    pages = sorted(str(p) for p in (ROOT / "man").glob("*.1"))
    proc = subprocess.run(["man", "--warnings", "-l", *pages], capture_output=True, text=True,
                          env={"LC_ALL": "C", "PATH": "/usr/bin:/bin", "MANPAGER": "cat"},
                          timeout=120)
    assert proc.stderr == ""
    assert "(prj_...)" in proc.stdout


def test_help_of_every_leaf_loads(tmp_path: Path) -> None:
    out: Any = run(["runs", "wait", "--help"])
    assert "[env var:" not in out.stdout


def test_unsaved_outputs_of_the_embedded_sandbox_point_to_download() -> None:
    completed = {"run_id": "run_abc123", "status": "completed",
                 "outputs": [{"output_id": "output_1", "type": "imageUrl",
                              "url": "http://127.0.0.1:1/api/v1/files/run_abc123/o.png"}]}
    note = "add --download DIR to keep the files"
    console, buf = _console(120)
    render_run(console, completed, files_note=note)
    assert note in buf.getvalue()
    console, buf = _console(120)  # saved already: nothing to add
    render_run(console, {**completed, "local_files": [{"output_id": "output_1",
                                                       "path": "o.png", "bytes": 3}]},
               files_note=note)
    assert note not in buf.getvalue()
    console, buf = _console(120)  # a real API's URLs keep working: no note
    render_run(console, completed)
    assert "--download" not in buf.getvalue()

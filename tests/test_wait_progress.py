"""What a person sees while waiting: the plain status lines, the rich bar, and the `pretty`
run document. The bar is rendered into a captured stderr with the terminal forced on."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from flora_cli.api.polling import RunState
from flora_cli.output import progress
from flora_cli.output.console import stdout_console
from flora_cli.output.pretty import render_run
from flora_cli.settings import Settings


def settings(**kw: Any) -> Settings:
    base: dict[str, Any] = dict(api_key=None, base_url="https://x.test", timeout=60.0,
                                max_retries=2, format="json", query=None, raw_output=False,
                                debug=False, quiet=False, no_color=True, sandbox=False)
    base.update(kw)
    return Settings(**base)


def state(status: str, progress_value: float = 0, **extra: Any) -> RunState:
    return RunState({"run_id": "run_abc", "status": status, "progress": progress_value,
                     **extra}, b"")


class Tty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


# -- when to draw a bar -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("out_tty", "err_tty", "quiet", "term", "expected"),
    [
        (True, True, False, "xterm-256color", True),
        (False, True, False, "xterm", False),  # piped stdout: lines, not a bar
        (True, False, False, "xterm", False),  # stderr to a file
        (True, True, True, "xterm", False),  # --quiet
        (True, True, False, "dumb", False),
    ],
)
def test_interactive(monkeypatch: pytest.MonkeyPatch, out_tty: bool, err_tty: bool,
                     quiet: bool, term: str, expected: bool) -> None:
    monkeypatch.setenv("TERM", term)
    assert progress.interactive(settings(quiet=quiet), stdout=Tty(out_tty),
                                stderr=Tty(err_tty)) is expected


def test_wait_display_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(progress.wait_display(settings(quiet=True), "run_abc")) is progress.WaitDisplay
    # under pytest the streams are not terminals: plain lines
    assert isinstance(progress.wait_display(settings(), "run_abc"), progress.LineDisplay)


# -- plain lines ------------------------------------------------------------------------


def test_line_display_writes_one_line_per_status_change() -> None:
    stream = io.StringIO()
    now = [100.0]
    display = progress.LineDisplay("run_abc", stream, clock=lambda: now[0])
    for st in (state("pending"), state("pending"), state("running", 10),
               state("running", 50), state("running", 90)):
        display.update(st)
    now[0] = 172.4
    display.update(state("completed", 100))
    assert stream.getvalue().splitlines() == [
        "run run_abc: pending",
        "run run_abc: running",
        "run run_abc: completed after 1 min 12 s",
    ]


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (59.6, "1 min"), (61, "1 min 1 s"),
                                                (3600, "1 h"), (3725, "1 h 2 min")])
def test_duration(seconds: float, text: str) -> None:
    assert progress.duration(seconds) == text


# -- the bar ----------------------------------------------------------------------------


def _bar_output(monkeypatch: pytest.MonkeyPatch, estimate: Any,
                states: list[RunState]) -> str:
    captured = io.StringIO()
    monkeypatch.setattr("sys.stderr", captured)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    display = progress.BarDisplay(settings(no_color=True), "run_abc", estimate)
    with display:
        for st in states:
            display.update(st)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", captured.getvalue())
    return text.replace("\r", "\n")


def test_bar_shows_status_percent_elapsed_and_estimate(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    text = _bar_output(monkeypatch, 16, [state("pending"), state("running", 40)])
    # 40 % of a 16 s estimate done: about 10 s left (the percent and the time left agree)
    pattern = r"run_abc\s+running\s+\S+\s+40%\s+\d s\s+~10 s left of 16 s"
    assert re.search(pattern, text), text
    assert capsys.readouterr().out == ""  # never on stdout


def test_bar_ends_at_100_percent_on_completed_whatever_progress_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _bar_output(monkeypatch, 16, [state("running", 40), state("completed", 70)])
    last = [line for line in text.splitlines() if "run_abc" in line][-1]
    assert re.search(r"✓ run_abc\s+completed\s+━+\s+100%\s+\d s\s+estimate 16 s", last), last


def test_bar_on_failure_keeps_the_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _bar_output(monkeypatch, None, [state("running", 30), state("failed", 55)])
    last = [line for line in text.splitlines() if "run_abc" in line][-1]
    assert re.search(r"✗ run_abc\s+failed\s+\S+\s+55%", last), last
    assert "estimate" not in last  # no estimate known (runs wait)


def test_byte_progress_only_for_large_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    bar = progress.BarByteProgress(settings(), threshold=1000)
    bar.begin("small.png", 999)
    assert bar.progress is None
    bar.end()
    bar.begin("large.png", 5000)
    assert bar.progress is not None
    bar.advance(5000)
    bar.end()
    assert bar.progress is None
    bar.begin("unknown-size.png", None)
    assert bar.progress is not None
    bar.end()


# -- the pretty run document ------------------------------------------------------------


def _pretty(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    console = stdout_console(settings(no_color=True))
    console.file = out
    console.width = 100
    render_run(console, doc)
    return out.getvalue()


def test_pretty_completed_run_with_local_files() -> None:
    text = _pretty({
        "run_id": "run_abc", "status": "completed", "progress": 100, "created_at": 1700000000,
        "completed_at": 1700000012, "charged_cost": 0.04,
        "outputs": [{"output_id": "output_1", "type": "imageUrl",
                     "url": "https://cdn.test/output_1.png"},
                    {"output_id": "output_2", "type": "text", "url": "x" * 500}],
        "local_files": [{"output_id": "output_1", "path": "out/run_abc-output_1.png",
                         "bytes": 12345}],
    })
    assert "Run completed" in text
    assert "run_abc" in text and "completed" in text
    assert "$0.04" in text
    assert "https://cdn.test/output_1.png" in text
    # a long text output is cut to 200 characters (folded over lines in the panel)
    assert "…" in text
    assert 200 <= text.count("x") < 210
    assert "out/run_abc-output_1.png" in text and "12,345" in text
    assert "flora runs wait" not in text


def test_pretty_failed_run_shows_the_error() -> None:
    text = _pretty({"run_id": "run_abc", "status": "failed", "progress": 55,
                    "created_at": 1700000000, "error_code": "safety_blocked",
                    "error_message": "Blocked by the safety filter."})
    assert "Run failed" in text
    assert "55 %" in text
    assert "safety_blocked: Blocked by the safety filter." in text


def test_pretty_running_run_suggests_the_next_command() -> None:
    text = _pretty({"run_id": "run_abc", "status": "running", "progress": 12.5,
                    "created_at": 1700000000})
    assert "Run running" in text and "12.5 %" in text
    assert "flora runs wait run_abc" in text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (45.4, "45 s"), (60, "1:00"),
                                               (75, "1:15"), (3725, "1:02:05")])
def test_short_duration_fits_a_bar_row(seconds: float, text: str) -> None:
    from flora_cli.output.progress import short_duration

    assert short_duration(seconds) == text

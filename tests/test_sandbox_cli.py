"""`flora sandbox serve` as a real subprocess: start, port 0, a request, stop cleanly."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from flora_cli.cli.sandbox import sandbox as sandbox_group

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)/api/v1)")


class Served:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if match := pattern.search(line):
                return match
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.seen)
                continue
            self.seen.append(line)
            if match := pattern.search(line):
                return match
        raise AssertionError(f"no {pattern.pattern!r} in stderr:\n{''.join(self.seen)}")

    def stop(self, sig: int) -> tuple[int, str]:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=20)
        time.sleep(0.05)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen)


@contextmanager
def serve(*args: str) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLORA_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "flora_cli", "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield Served(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize(("sig", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_serve_port_zero_request_and_clean_stop(sig: int, expected: int) -> None:
    with serve("--seed", "1") as served:
        match = served.wait_for(LISTENING)
        base_url, port = match.group(1), int(match.group(2))
        assert port > 0
        banner = served.wait_for(re.compile(r"export FLORA_BASE_URL=(\S+) FLORA_API_KEY=(\S+)"))
        assert banner.group(1) == base_url and banner.group(2).startswith("sk_test_")
        response = httpx.post(
            f"{base_url}/runs/generation",
            headers={"Authorization": f"Bearer {banner.group(2)}"},
            json={"type": "image", "prompt": "a mug", "workspace_id": "ws_sandbox",
                  "project_id": "prj_sandbox"},
        )
        assert response.status_code == 201
        served.wait_for(re.compile(r"POST /api/v1/runs/generation -> 201 req_\w+ run_\w+"))
        code, stderr = served.stop(sig)
        assert served.process.stdout is not None
        stdout = served.process.stdout.read()
    assert code == expected, stderr
    assert "Traceback" not in stderr and "sandbox stopped" in stderr
    assert stdout == base_url + "\n"  # for scripts: the URL is stdout's one line


def test_serve_writes_its_url_first_on_stdout_and_to_url_file(tmp_path: Path) -> None:
    url_file = tmp_path / "sandbox.url"
    with serve("--host", "0.0.0.0", "--url-file", str(url_file)) as served:
        assert served.process.stdout is not None
        first = served.process.stdout.readline().strip()
        # A wildcard bind address is not connectable: the line names loopback instead.
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", first), first
        assert url_file.read_text() == first + "\n"
        banner = served.wait_for(re.compile(r"export FLORA_BASE_URL=(\S+) "))
        assert banner.group(1) == first  # the export line works when pasted
        response = httpx.get(f"{first}/workspaces",
                             headers={"Authorization": "Bearer sk_test_flora_sandbox"})
        assert response.status_code == 200
        code, _ = served.stop(signal.SIGTERM)
    assert code == 0


def test_serve_refuses_a_url_file_in_a_missing_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flora_cli", "sandbox", "serve", "--port", "0", "--json",
         "--url-file", str(tmp_path / "missing" / "url")],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    assert json.loads(result.stderr.splitlines()[-1])["error"]["code"] == "usage_error"
    assert "--url-file" in result.stderr and "Traceback" not in result.stderr


def test_serve_reports_a_busy_port() -> None:
    with serve() as first:
        port = first.wait_for(LISTENING).group(2)
        result = subprocess.run(
            [sys.executable, "-m", "flora_cli", "sandbox", "serve", "--port", port],
            capture_output=True, text=True, timeout=30,
        )
        first.stop(signal.SIGTERM)
    assert result.returncode == 1
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [["--port", "70000"], ["--speed", "0"], ["--error-rate", "1.5"], ["--drop-rate", "-1"],
     ["--idempotency", "maybe"], ["--rate-limit", "0"], ["--latency", "-5"],
     ["--text-output", "pdf"]],
)
def test_bad_options_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(sandbox_group, ["serve", *args])
    assert result.exit_code == 2, result.output


def test_cli_module_imports_only_click() -> None:
    code = (
        "import sys; import flora_cli.cli.sandbox; "
        "heavy = [m for m in ('starlette', 'uvicorn', 'pydantic', 'httpx') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

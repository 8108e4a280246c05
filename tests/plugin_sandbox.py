"""Pytest fixtures that serve the FLORA sandbox on 127.0.0.1 (port 0) in a thread.

- `sandbox`: a running sandbox with the default config except a fast clock (speed 100: an
  8 s image run finishes in 0.08 s; the slowest seeded model, 90 s, in 0.9 s). One server is
  shared by the session and its state is reset before each test (no runs, budgets full,
  idempotency keys and rate windows forgotten, random streams re-seeded), so every test sees a
  fresh API.
- `make_sandbox(**config)`: a factory for sandboxes with a custom `SandboxConfig` (speed,
  idempotency, rate_limit, error_rate, latency_ms, drop_rate, seed); each call starts its own
  server and all of them stop at the end of the test. `speed` defaults to 100 here too.

Both give a `RunningSandbox` with:
  `.base_url` (`http://127.0.0.1:PORT/api/v1`), `.api_key` (an `sk_test_` key),
  `.workspace_id` (`ws_sandbox`), `.project_id` (`prj_sandbox`), `.port`, `.origin`,
  `.config`, and `.state` (the in-memory `SandboxState`, e.g. `.state.runs`,
  `.state.remaining_usd(ws)`).

Example:

    def test_start(sandbox):
        result = run_cli(["--base-url", sandbox.base_url, "--api-key", sandbox.api_key, ...])

    def test_retries(make_sandbox):
        flaky = make_sandbox(drop_rate=1.0, idempotency="replay", seed=1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from flora_cli.sandbox.config import SandboxConfig
from flora_cli.sandbox.server import RunningSandbox, serve_in_thread

#: Clock speed of the test sandboxes.
TEST_SPEED = 100.0


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[RunningSandbox]:
    with serve_in_thread(SandboxConfig(speed=TEST_SPEED)) as running:
        yield running


@pytest.fixture
def sandbox(_sandbox_server: RunningSandbox) -> RunningSandbox:
    """A running sandbox (default config, speed 100) with fresh state for this test."""
    _sandbox_server.state.reset()
    return _sandbox_server


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """Factory: `make_sandbox(**SandboxConfig fields)` starts a sandbox; all stop at teardown."""
    with ExitStack() as stack:

        def start(**config: Any) -> RunningSandbox:
            config.setdefault("speed", TEST_SPEED)
            return stack.enter_context(serve_in_thread(SandboxConfig(**config)))

        yield start

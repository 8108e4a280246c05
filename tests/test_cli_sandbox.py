"""End-to-end: the CLI against the sandbox over a real socket (port 0, in a thread)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, run, run_process

MakeSandbox = Callable[..., RunningSandbox]


def start_args(box: RunningSandbox, *extra: str) -> list[str]:
    return ["--api-key", SECRET, "--base-url", box.base_url, "-q", "runs", "start-generation",
            "--project-id", box.project_id, "--workspace-id", box.workspace_id, "--json",
            *extra]


def test_start_generation_creates_one_run(sandbox: RunningSandbox) -> None:
    out = run(start_args(sandbox, "--type", "image", "--prompt", "a ceramic mug"))
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert doc["run_id"].startswith("run_") and doc["type"] == "generation"
    assert list(sandbox.state.runs) == [doc["run_id"]]


def test_generations_create_on_sandbox(sandbox: RunningSandbox) -> None:
    out = run(["--api-key", SECRET, "--base-url", sandbox.base_url, "generations", "create",
               "--project-id", sandbox.project_id, "--workspace-id", sandbox.workspace_id,
               "--type", "text", "--prompt", "a haiku", "--json"])
    assert out.exit_code == 0, out.stderr
    assert out.stderr == ""


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_drop_rate_retries_create_exactly_one_run(make_sandbox: MakeSandbox, seed: int) -> None:
    """Every create's response is lost; the retry carries the same key, so one run exists.

    In `spec` mode the retry is refused as a duplicate: the CLI says the run most likely
    started (exit 8) instead of starting another."""
    box = make_sandbox(drop_rate=1.0, seed=seed)
    out = run(start_args(box, "--type", "image", "--prompt", "a mug", "--idempotency-key",
                         f"drop-{seed}"))
    assert len(box.state.runs) == 1
    assert out.exit_code == 8, out.stderr
    assert "most likely started the run" in out.stderr
    assert out.error()["idempotency_key"] == f"drop-{seed}"


def test_drop_rate_in_replay_mode_recovers_the_run(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(drop_rate=0.5, idempotency="replay", seed=7)
    run_ids = set()
    for i in range(8):
        out = run(start_args(box, "--type", "image", "--prompt", f"mug {i}",
                             "--max-retries", "6"))
        if out.exit_code == 0:
            run_ids.add(out.json()["run_id"])
        else:
            assert out.exit_code == 9, out.stderr  # every attempt dropped
    # one run per invocation, whatever was dropped on the way
    assert len(box.state.runs) == 8
    assert run_ids <= set(box.state.runs)


def test_error_rate_is_retried(make_sandbox: MakeSandbox) -> None:
    def codes(retries: int) -> tuple[list[int], int]:
        box = make_sandbox(error_rate=0.3, seed=3)
        got = [run(start_args(box, "--type", "audio", "--prompt", f"hum {i}",
                              "--max-retries", str(retries))).exit_code for i in range(6)]
        return got, len(box.state.runs)

    without, _ = codes(0)
    assert 9 in without  # the same seed injects 5xx that a single attempt does not survive
    with_retries, runs = codes(3)
    assert with_retries == [0] * 6
    assert runs == 6  # a 5xx is injected before any side effect: no extra run


@pytest.mark.parametrize(
    ("extra", "exit_code", "code"),
    [
        (["--workspace-id", "ws_unknown"], 5, "not_found"),
        # the API's own check, behind the CLI's pre-spend check
        (["--model", "no-such-model", "--no-check"], 3, "input_validation_error"),
    ],
)
def test_api_rejections_from_the_sandbox(sandbox: RunningSandbox, extra: list[str],
                                         exit_code: int, code: str) -> None:
    out = run([*start_args(sandbox, "--type", "image", "--prompt", "a mug"), *extra])
    assert out.exit_code == exit_code, out.stderr
    err = out.error()
    assert err["error"]["code"] == code
    assert err["request_id"].startswith("req_")


def test_insufficient_credits(sandbox: RunningSandbox) -> None:
    from flora_cli.sandbox import defaults

    out = run(start_args(sandbox, "--type", "video", "--prompt", "a drone shot",
                         "--workspace-id", defaults.SANDBOX_BROKE_WORKSPACE_ID,
                         "--project-id", defaults.SANDBOX_BROKE_PROJECT_ID))
    assert out.exit_code == 6
    assert out.error()["error"]["code"] == "insufficient_credits"


def test_wrong_key_kind_is_exit_4(sandbox: RunningSandbox) -> None:
    out = run(["--api-key", "sk_live_NOTFORSANDBOX", "--base-url", sandbox.base_url, "-q",
               "runs", "start-generation", "--project-id", sandbox.project_id,
               "--workspace-id", sandbox.workspace_id, "--type", "image", "--prompt", "x",
               "--json"])
    assert out.exit_code == 4
    assert out.error()["error"]["code"] == "invalid_api_key"
    assert "sk_live_NOTFORSANDBOX" not in out.stdout + out.stderr


def test_rate_limit_exit_7(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(rate_limit=1)
    first = run(start_args(box, "--type", "image", "--prompt", "one"))
    second = run(start_args(box, "--type", "image", "--prompt", "two", "--max-retries", "0"))
    assert first.exit_code == 0
    assert second.exit_code == 7
    assert second.error()["error"]["code"] == "rate_limited"


def test_embedded_sandbox_flag_needs_no_setup() -> None:
    out = run_process(["--sandbox", "runs", "start-generation", "--type", "image",
                       "--prompt", "a ceramic mug", "--json"])
    assert out.exit_code == 0, out.stderr
    assert out.json()["project_id"] == "prj_sandbox"
    assert out.stderr.startswith("warning:")  # the deprecation line, nothing else
    assert len(out.stderr.strip().splitlines()) == 1

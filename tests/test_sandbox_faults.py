"""Fault injection, rate limits and seeds: --error-rate, --latency, --drop-rate, --rate-limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flora_cli.sandbox.server import RunningSandbox

MakeSandbox = Callable[..., RunningSandbox]


def _client(box: RunningSandbox) -> httpx.Client:
    return httpx.Client(
        base_url=box.base_url, headers={"Authorization": f"Bearer {box.api_key}"}, timeout=10
    )


def _body(box: RunningSandbox, prompt: str = "a mug") -> dict[str, Any]:
    return {"type": "image", "prompt": prompt, "workspace_id": box.workspace_id,
            "project_id": box.project_id}


def test_error_rate_one_always_fails_before_side_effects(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(error_rate=1.0, seed=7)
    with _client(box) as c:
        statuses = set()
        for i in range(30):
            response = c.post("/runs/generation", json=_body(box, f"p{i}"))
            statuses.add(response.status_code)
            error = response.json()["error"]
            assert error["code"] in ("unknown_error", "service_unavailable")
            assert response.headers["request-id"].startswith("req_")
        assert statuses == {500, 502, 503}
    assert box.state.runs == {}


def test_error_rate_zero_point_three_is_partial(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(error_rate=0.3, seed=1)
    with _client(box) as c:
        codes = [c.get("/workspaces").status_code for _ in range(200)]
    failures = sum(code >= 500 for code in codes)
    assert 30 <= failures <= 90


def test_seed_repeats_the_same_faults_and_ids(make_sandbox: MakeSandbox) -> None:
    def trace(seed: int) -> list[Any]:
        box = make_sandbox(error_rate=0.5, seed=seed)
        with _client(box) as c:
            out = []
            for i in range(25):
                response = c.post("/generate", json=_body(box, f"p{i}"))
                out.append((response.status_code, response.json().get("run_id")))
            return out

    first, second, other = trace(42), trace(42), trace(43)
    assert first == second
    assert first != other
    assert {s for s, _ in first} > {201}


def test_latency_is_added(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(latency_ms=150)
    with _client(box) as c:
        c.get("/workspaces")  # connect first
        started = time.perf_counter()
        c.get("/workspaces")
        assert time.perf_counter() - started >= 0.15


def test_drop_rate_creates_the_run_and_closes_the_connection(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(drop_rate=1.0, idempotency="replay")
    with _client(box) as c:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            c.post("/runs/generation", json=_body(box), headers={"Idempotency-Key": "once"})
        assert len(box.state.runs) == 1
        (run_id,) = box.state.runs
        # GETs are never dropped; the run exists and can be polled.
        assert c.get(f"/runs/{run_id}").status_code == 200
        # Only requests that create a run are dropped: the retry with the same key is the
        # replay of the run the dropped attempt created.
        retry = c.post("/runs/generation", json=_body(box), headers={"Idempotency-Key": "once"})
        assert retry.status_code == 201 and retry.json()["run_id"] == run_id
        assert retry.headers["idempotent-replayed"] == "true"
        # Without a key, a retry is a new run (and dropped again).
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/runs/generation", json=_body(box))
    assert len(box.state.runs) == 2


def test_retrying_a_dropped_create_with_its_key_finds_the_one_run(
    make_sandbox: MakeSandbox,
) -> None:
    box = make_sandbox(drop_rate=0.5, idempotency="replay", seed=5)
    with _client(box) as c:
        outcomes = []
        for _attempt in range(1, 40):
            try:
                response = c.post("/generate", json=_body(box), headers={"Idempotency-Key": "k"})
            except httpx.RemoteProtocolError:
                outcomes.append("dropped")
                continue
            outcomes.append(response.headers.get("idempotent-replayed", "first"))
            break
        assert "dropped" in outcomes or outcomes == ["first"]
        assert outcomes[-1] in ("true", "first")
        assert response.json()["run_id"] in box.state.runs
    assert len(box.state.runs) == 1


def test_rate_limit_per_workspace_with_retry_after(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(rate_limit=3)
    with _client(box) as c:
        codes = [c.post("/generate", json=_body(box, f"p{i}")).status_code for i in range(3)]
        assert codes == [201, 201, 201]
        limited = c.post("/generate", json=_body(box, "p4"))
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Another workspace has its own window (it then fails on budget, not on rate).
        broke = c.post("/generate", json={**_body(box), "workspace_id": "ws_broke",
                                          "project_id": "prj_broke"})
        assert broke.status_code == 402
        # Reading runs is not limited.
        assert c.get("/workspaces").status_code == 200
    assert len(box.state.runs) == 3


def test_rate_limit_window_slides() -> None:
    from flora_cli.sandbox.config import SandboxConfig
    from flora_cli.sandbox.errors import ApiError
    from flora_cli.sandbox.state import SandboxState

    now = [0.0]
    state = SandboxState(SandboxConfig(rate_limit=2), monotonic=lambda: now[0])
    state.check_rate("ws_sandbox")
    now[0] = 30
    state.check_rate("ws_sandbox")
    with pytest.raises(ApiError) as info:
        state.check_rate("ws_sandbox")
    assert info.value.headers["retry-after"] == "30"
    now[0] = 60.5
    state.check_rate("ws_sandbox")

"""Units of the poll loop (flora_cli.api.polling) over httpx.MockTransport, with an injected
sleep and clock so every test is instant."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from flora_cli.api import errors
from flora_cli.api.client import FloraClient
from flora_cli.api.polling import (
    RunState,
    fetch_run,
    poll_target,
    run_path,
    wait_for_run,
)
from flora_cli.vocab import resume_command

BASE = "https://api.flora.test/api/v1"
KEY = "sk_test_pollingkey123"
RUN = "run_abc123"


def run_doc(status: str, progress: float = 0, **extra: Any) -> dict[str, Any]:
    return {"run_id": RUN, "status": status, "progress": progress, "created_at": 1.0, **extra}


@dataclass
class Script:
    """A MockTransport that answers from a list and records every request."""

    answers: list[httpx.Response | Callable[[httpx.Request], httpx.Response]]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer


def ok(doc: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=doc, headers={"request-id": "req_1"})


@dataclass
class FakeTime:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(script: Script, fake: FakeTime, **kw: Any) -> Iterator[FloraClient]:
    client = FloraClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script),
                         sleep=fake.sleep, **kw)
    yield client
    client.close()


@pytest.fixture
def script() -> Script:
    return Script([])


@pytest.fixture
def client(script: Script, fake_time: FakeTime) -> Iterator[FloraClient]:
    yield from make_client(script, fake_time)


# -- where to poll ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("poll_url", "expected"),
    [
        (f"{BASE}/runs/{RUN}", f"{BASE}/runs/{RUN}"),
        ("https://api.flora.test:443/v2/runs/run_abc123", "https://api.flora.test:443/v2/runs/run_abc123"),
        ("https://API.FLORA.TEST/api/v1/runs/run_abc123", "https://API.FLORA.TEST/api/v1/runs/run_abc123"),
        # another origin (host, port or scheme): the base URL's own path instead
        ("https://evil.test/api/v1/runs/run_abc123", f"{BASE}/runs/{RUN}"),
        ("https://api.flora.test:8443/api/v1/runs/run_abc123", f"{BASE}/runs/{RUN}"),
        ("http://api.flora.test/api/v1/runs/run_abc123", f"{BASE}/runs/{RUN}"),
        ("/api/v1/runs/run_abc123", f"{BASE}/runs/{RUN}"),
        ("not a url", f"{BASE}/runs/{RUN}"),
        (None, f"{BASE}/runs/{RUN}"),
        (42, f"{BASE}/runs/{RUN}"),
    ],
)
def test_poll_target(client: FloraClient, poll_url: Any, expected: str) -> None:
    assert poll_target(client, RUN, poll_url) == expected


def test_run_path_quotes_the_id_as_one_segment() -> None:
    assert run_path("run_a/b?c#d") == "/runs/run_a%2Fb%3Fc%23d"
    assert run_path(RUN) == "/runs/run_abc123"


def test_resume_command_quotes_for_the_shell() -> None:
    assert resume_command(RUN) == "flora runs wait run_abc123"
    assert resume_command(RUN, "my dir") == "flora runs wait run_abc123 --download 'my dir'"


# -- the loop ---------------------------------------------------------------------------


def test_polls_until_completed_at_the_interval(client: FloraClient, script: Script,
                                               fake_time: FakeTime) -> None:
    script.answers[:] = [ok(run_doc("pending")), ok(run_doc("running", 40)),
                         ok(run_doc("running", 80)), ok(run_doc("completed", 100))]
    seen: list[str] = []
    state = wait_for_run(client, RUN, interval=2.5, on_update=lambda s: seen.append(s.status),
                         sleep=fake_time.sleep, clock=fake_time.clock)
    assert state.status == "completed"
    assert seen == ["pending", "running", "running", "completed"]
    assert fake_time.sleeps == [2.5, 2.5, 2.5]  # first poll immediate, none after the end
    assert [str(r.url) for r in script.requests] == [f"{BASE}/runs/{RUN}"] * 4
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in script.requests)
    assert all(r.method == "GET" for r in script.requests)


def test_returns_failed_state_without_raising(client: FloraClient, script: Script,
                                              fake_time: FakeTime) -> None:
    script.answers[:] = [ok(run_doc("failed", 55, error_code="safety_blocked"))]
    state = wait_for_run(client, RUN, sleep=fake_time.sleep, clock=fake_time.clock)
    assert state.status == "failed" and state.doc["error_code"] == "safety_blocked"
    assert fake_time.sleeps == []


def test_trusts_status_not_progress(client: FloraClient, script: Script,
                                    fake_time: FakeTime) -> None:
    # progress says 100 while the status is still running: keep polling.
    script.answers[:] = [ok(run_doc("running", 100)), ok(run_doc("running", 100)),
                         ok(run_doc("completed", 30))]
    state = wait_for_run(client, RUN, interval=1, sleep=fake_time.sleep, clock=fake_time.clock)
    assert state.status == "completed"
    assert len(script.requests) == 3


def test_the_body_is_kept_as_received(client: FloraClient, script: Script,
                                      fake_time: FakeTime) -> None:
    body = b'{"run_id":"run_abc123","status":"completed","progress":100,"created_at":1,"x":{"y":1}}'
    script.answers[:] = [httpx.Response(200, content=body)]
    state = wait_for_run(client, RUN, sleep=fake_time.sleep, clock=fake_time.clock)
    assert state.content == body
    assert state.doc["x"] == {"y": 1}


def test_same_origin_poll_url_is_used(client: FloraClient, script: Script,
                                      fake_time: FakeTime) -> None:
    url = "https://api.flora.test/elsewhere/runs/run_abc123?token=1"
    script.answers[:] = [ok(run_doc("completed", 100))]
    wait_for_run(client, RUN, poll_url=url, sleep=fake_time.sleep, clock=fake_time.clock)
    assert str(script.requests[0].url) == url
    assert script.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_foreign_poll_url_is_never_requested(client: FloraClient, script: Script,
                                             fake_time: FakeTime) -> None:
    script.answers[:] = [ok(run_doc("pending")), ok(run_doc("completed", 100))]
    wait_for_run(client, RUN, poll_url="https://collector.evil.test/runs/run_abc123",
                 interval=1, sleep=fake_time.sleep, clock=fake_time.clock)
    hosts = {r.url.host for r in script.requests}
    assert hosts == {"api.flora.test"}
    assert not any(KEY in str(r.url) for r in script.requests)


def test_each_poll_uses_the_retry_policy_and_honours_retry_after(
    script: Script, fake_time: FakeTime
) -> None:
    client_sleeps: list[float] = []
    client = FloraClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script),
                         sleep=client_sleeps.append, max_retries=2)
    script.answers[:] = [
        httpx.Response(429, json={"error": {"code": "rate_limited", "message": "slow down"}},
                       headers={"retry-after": "3"}),
        httpx.Response(503, json={"error": {"code": "unknown_error", "message": "x"}},
                       headers={"retry-after-ms": "250"}),
        ok(run_doc("completed", 100)),
    ]
    state = wait_for_run(client, RUN, sleep=fake_time.sleep, clock=fake_time.clock)
    client.close()
    assert state.status == "completed"
    assert client_sleeps == [3.0, 0.25]
    assert len(script.requests) == 3


def test_a_poll_that_keeps_failing_raises_the_api_error(script: Script,
                                                       fake_time: FakeTime) -> None:
    client = FloraClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script),
                         sleep=lambda s: None, max_retries=1)
    script.answers[:] = [httpx.Response(404, json={"error": {"code": "not_found",
                                                             "message": "Run not found."}})]
    with pytest.raises(errors.NotFoundError) as info:
        wait_for_run(client, RUN, sleep=fake_time.sleep, clock=fake_time.clock)
    client.close()
    assert info.value.exit_code == 5
    assert len(script.requests) == 1  # 404 is final


# -- timeout and Ctrl-C -----------------------------------------------------------------


def test_wait_timeout_names_the_run_and_the_resume_command(
    client: FloraClient, script: Script, fake_time: FakeTime
) -> None:
    script.answers[:] = [ok(run_doc("running", 10))]
    with pytest.raises(errors.WaitTimeoutError) as info:
        wait_for_run(client, RUN, interval=2, timeout=5, sleep=fake_time.sleep,
                     clock=fake_time.clock)
    err = info.value
    assert err.exit_code == 124
    assert err.run_id == RUN
    assert err.code == "wait_timeout"
    assert err.hint is None  # api/ carries facts; the CLI layer words the resume hint
    assert RUN in err.message
    # polls at 0, 2, 4 and a last one at the deadline (5): the last sleep is cut to 1 s
    assert fake_time.sleeps == [2, 2, 1]
    assert len(script.requests) == 4


def test_a_run_that_ends_at_the_deadline_is_not_a_timeout(
    client: FloraClient, script: Script, fake_time: FakeTime
) -> None:
    script.answers[:] = [ok(run_doc("running", 10)), ok(run_doc("completed", 100))]
    state = wait_for_run(client, RUN, interval=10, timeout=3, sleep=fake_time.sleep,
                         clock=fake_time.clock)
    assert state.status == "completed"
    assert fake_time.sleeps == [3]


def test_ctrl_c_becomes_interrupted_with_the_resume_hint(
    client: FloraClient, script: Script, fake_time: FakeTime
) -> None:
    script.answers[:] = [ok(run_doc("running", 10))]

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(errors.InterruptedError_) as info:
        wait_for_run(client, RUN, sleep=interrupt, clock=fake_time.clock)
    err = info.value
    assert err.exit_code == 130
    assert err.run_id == RUN
    assert err.hint is None
    assert err.to_document()["run_id"] == RUN


def test_ctrl_c_during_a_request_is_interrupted_too(script: Script,
                                                    fake_time: FakeTime) -> None:
    def interrupt(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    script.answers[:] = [interrupt]
    client = FloraClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script))
    with pytest.raises(errors.InterruptedError_):
        wait_for_run(client, RUN, sleep=fake_time.sleep, clock=fake_time.clock)
    client.close()


# -- answers that break the contract ----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"run_id": RUN, "progress": 5},
        {"run_id": RUN, "status": "cancelled", "progress": 5},
        {"run_id": "run_other", "status": "completed", "progress": 100},
    ],
)
def test_a_broken_answer_is_invalid_response(client: FloraClient, script: Script,
                                             body: Any) -> None:
    script.answers[:] = [httpx.Response(200, content=json.dumps(body).encode())]
    with pytest.raises(errors.InvalidResponseError) as info:
        fetch_run(client, RUN)
    assert info.value.exit_code == 1
    assert info.value.run_id == RUN


def test_run_state_progress_is_clamped_and_optional() -> None:
    assert RunState({"progress": 140}, b"").progress == 100.0
    assert RunState({"progress": -3}, b"").progress == 0.0
    assert RunState({"progress": "half"}, b"").progress is None
    assert RunState({"progress": True}, b"").progress is None
    assert RunState({"status": "completed"}, b"").finished
    assert not RunState({"status": "running"}, b"").finished

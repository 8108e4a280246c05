"""Client units on httpx.MockTransport: status → error class → exit code, retries, idempotency."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flora_cli.api import errors
from flora_cli.api.client import USER_AGENT, FloraClient
from flora_cli.api.wire import WireError

KEY = "sk_test_UNITSECRET123"
BASE = "https://api.example.test/api/v1"
BODY = {"type": "image", "prompt": "a mug", "workspace_id": "ws_1", "project_id": "prj_1"}
CREATED = {"run_id": "run_1", "type": "generation", "estimated_seconds": 3, "charged_cost": 0.1}


def envelope(code: str, message: str = "msg") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class Script:
    """A MockTransport handler answering from a list; records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script: Script, *, max_retries: int = 2,
                sleeps: list[float] | None = None, **kw: Any) -> FloraClient:
    sink = sleeps if sleeps is not None else []
    return FloraClient(api_key=KEY, base_url=BASE, max_retries=max_retries,
                       transport=httpx.MockTransport(script), sleep=sink.append, **kw)


def post(client: FloraClient, key: str = "idem-1") -> Any:
    return client.request("POST", "/runs/generation", body=BODY, idempotency_key=key)


@pytest.mark.parametrize(
    ("status", "code", "cls", "exit_code"),
    [
        (400, "input_validation_error", errors.BadRequestError, 3),
        (400, "invalid_json", errors.BadRequestError, 3),
        (401, "unauthorized", errors.AuthenticationError, 4),
        (401, "invalid_api_key", errors.AuthenticationError, 4),
        (402, "insufficient_credits", errors.InsufficientCreditsError, 6),
        (403, "forbidden", errors.PermissionDeniedError, 4),
        (404, "not_found", errors.NotFoundError, 5),
        (409, "idempotency_duplicate", errors.IdempotencyConflictError, 8),
        (422, "idempotency_conflict", errors.IdempotencyConflictError, 8),
        (422, "unprocessable", errors.BadRequestError, 3),
        (429, "rate_limited", errors.RateLimitError, 7),
        (500, "unknown_error", errors.ServerError, 9),
        (503, "service_unavailable", errors.ServerError, 9),
    ],
)
def test_status_maps_to_error_class_and_exit_code(
    status: int, code: str, cls: type[errors.FloraError], exit_code: int
) -> None:
    answers = [httpx.Response(status, json=envelope(code), headers={"request-id": "req_9"})]
    script = Script(*answers * 3)
    with pytest.raises(cls) as info:
        post(make_client(script))
    err = info.value
    assert err.exit_code == exit_code
    assert err.error == {"code": code, "message": "msg"}  # passed through unchanged
    assert err.http_status == status
    assert err.request_id == "req_9"
    assert err.idempotency_key == "idem-1"


def test_success_keeps_body_bytes_and_request_id() -> None:
    raw = b'{"run_id": "run_1", "charged_cost": 0.10, "zzz": [1, 2]}'
    script = Script(httpx.Response(201, content=raw, headers={"request-id": "req_1"}))
    resp = post(make_client(script))
    assert resp.content == raw
    assert resp.data["zzz"] == [1, 2]
    assert resp.request_id == "req_1"
    assert resp.attempts == 1


def test_headers_sent() -> None:
    script = Script(httpx.Response(201, json=CREATED))
    post(make_client(script))
    req = script.requests[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["accept"] == "application/json"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["idempotency-key"] == "idem-1"
    assert req.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("flora-cli/")
    assert str(req.url) == BASE + "/runs/generation"
    assert json.loads(req.content) == BODY


def test_get_sends_no_content_type_nor_idempotency_key() -> None:
    script = Script(httpx.Response(200, json={"run_id": "run_1"}))
    make_client(script).request("GET", "/runs/run_1")
    req = script.requests[0]
    assert "content-type" not in req.headers
    assert "idempotency-key" not in req.headers


def test_key_only_sent_to_base_origin() -> None:
    script = Script(httpx.Response(200, json={}), httpx.Response(200, json={}),
                    httpx.Response(200, json={}))
    client = make_client(script)
    client.request("GET", "https://api.example.test:443/api/v1/runs/run_1")
    client.request("GET", "https://evil.example.test/api/v1/runs/run_1")
    client.request("GET", "http://api.example.test/api/v1/runs/run_1")
    assert "authorization" in script.requests[0].headers
    assert "authorization" not in script.requests[1].headers
    assert "authorization" not in script.requests[2].headers


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_with_one_idempotency_key(status: int) -> None:
    sleeps: list[float] = []
    script = Script(httpx.Response(status, json=envelope("unknown_error")),
                    httpx.Response(status, json=envelope("unknown_error")),
                    httpx.Response(201, json=CREATED))
    resp = post(make_client(script, sleeps=sleeps))
    assert resp.attempts == 3
    assert len(script.requests) == 3
    assert {r.headers["idempotency-key"] for r in script.requests} == {"idem-1"}
    assert len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 422])
def test_other_4xx_are_never_retried(status: int) -> None:
    script = Script(httpx.Response(status, json=envelope("x")), httpx.Response(201, json=CREATED))
    with pytest.raises(errors.APIStatusError):
        post(make_client(script))
    assert len(script.requests) == 1


def test_x_should_retry_overrides_status() -> None:
    script = Script(httpx.Response(400, json=envelope("x"), headers={"x-should-retry": "true"}),
                    httpx.Response(201, json=CREATED))
    assert post(make_client(script)).attempts == 2
    script = Script(httpx.Response(503, json=envelope("x"), headers={"x-should-retry": "false"}),
                    httpx.Response(201, json=CREATED))
    with pytest.raises(errors.ServerError):
        post(make_client(script))
    assert len(script.requests) == 1


def test_retries_exhausted_5xx_is_exit_9_and_429_is_exit_7() -> None:
    script = Script(*[httpx.Response(502, content=b"bad gateway")] * 3)
    with pytest.raises(errors.ServerError) as info:
        post(make_client(script))
    assert info.value.exit_code == 9
    assert len(script.requests) == 3
    script = Script(*[httpx.Response(429, json=envelope("rate_limited"))] * 3)
    with pytest.raises(errors.RateLimitError) as rl:
        post(make_client(script))
    assert rl.value.exit_code == 7


def test_max_retries_zero_sends_once() -> None:
    script = Script(httpx.Response(503, json=envelope("x")))
    with pytest.raises(errors.ServerError):
        post(make_client(script, max_retries=0))
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "30"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
    ],
)
def test_server_asked_delay_is_slept(headers: dict[str, str], expected: float) -> None:
    sleeps: list[float] = []
    script = Script(httpx.Response(429, json=envelope("rate_limited"), headers=headers),
                    httpx.Response(201, json=CREATED))
    post(make_client(script, sleeps=sleeps))
    assert sleeps == [pytest.approx(expected)]


@pytest.mark.parametrize("headers", [{"retry-after": "61"}, {"retry-after-ms": "90000"}])
def test_server_delay_over_60s_is_not_slept(headers: dict[str, str]) -> None:
    sleeps: list[float] = []
    script = Script(httpx.Response(429, json=envelope("rate_limited"), headers=headers),
                    httpx.Response(201, json=CREATED))
    with pytest.raises(errors.RateLimitError) as info:
        post(make_client(script, sleeps=sleeps))
    assert sleeps == []
    assert len(script.requests) == 1
    assert info.value.exit_code == 7
    assert info.value.retry_after is not None and info.value.retry_after > 60
    assert info.value.hint is None  # the CLI layer words it (tests/test_hints.py)


def test_timeouts_are_retried_then_reported() -> None:
    sleeps: list[float] = []
    script = Script(*[httpx.ReadTimeout("slow")] * 3)
    with pytest.raises(errors.APITimeoutError) as info:
        post(make_client(script, sleeps=sleeps, timeout=1.5))
    assert info.value.exit_code == 9
    assert info.value.code == "timeout"
    assert "1.5 s" in info.value.message
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_connection_reset_then_success() -> None:
    script = Script(httpx.ConnectError("reset by peer"), httpx.Response(201, json=CREATED))
    resp = post(make_client(script))
    assert resp.attempts == 2
    assert [r.headers["idempotency-key"] for r in script.requests] == ["idem-1", "idem-1"]


def test_connection_errors_exhausted() -> None:
    script = Script(*[httpx.RemoteProtocolError("peer closed")] * 3)
    with pytest.raises(errors.APIConnectionError) as info:
        post(make_client(script))
    assert info.value.code == "connection_error"
    # httpx's failure, wrapped once at the transport boundary into the wire's own kind.
    assert isinstance(info.value.__cause__, WireError)
    assert isinstance(info.value.__cause__.__cause__, httpx.RemoteProtocolError)


def test_lost_response_then_duplicate_is_explained() -> None:
    script = Script(httpx.ReadTimeout("lost"),
                    httpx.Response(409, json=envelope("idempotency_duplicate",
                                                      "Duplicate idempotency key.")))
    with pytest.raises(errors.IdempotencyConflictError) as info:
        post(make_client(script), key="k-123")
    err = info.value
    assert err.exit_code == 8
    assert "most likely started the run" in err.message
    assert "k-123" in err.message
    assert isinstance(err, errors.LostResponseError) and err.attempts == 2


def test_duplicate_on_first_attempt_is_a_plain_conflict() -> None:
    script = Script(httpx.Response(409, json=envelope("idempotency_duplicate", "Duplicate.")))
    with pytest.raises(errors.IdempotencyConflictError) as info:
        post(make_client(script))
    assert info.value.message == "Duplicate."


def test_replayed_success() -> None:
    script = Script(httpx.Response(201, json=CREATED, headers={"idempotent-replayed": "true"}))
    assert post(make_client(script)).replayed is True


@pytest.mark.parametrize(
    "content",
    [b"<html>oops</html>", b"", b"{not json"],
)
def test_non_json_success_is_invalid_response(content: bytes) -> None:
    script = Script(httpx.Response(201, content=content, headers={"content-type": "text/html"}))
    with pytest.raises(errors.InvalidResponseError) as info:
        post(make_client(script))
    assert info.value.exit_code == 1
    assert info.value.code == "invalid_response"


def test_error_without_envelope_still_maps() -> None:
    script = Script(httpx.Response(404, content=b"<h1>Not Found</h1>"))
    with pytest.raises(errors.NotFoundError) as info:
        post(make_client(script))
    assert info.value.error == {"code": "not_found", "message": "HTTP 404"}


def test_debug_trace_redacts_key() -> None:
    lines: list[str] = []
    script = Script(httpx.Response(503, json=envelope("x")), httpx.Response(201, json=CREATED))
    post(make_client(script, trace=lines.append))
    text = "\n".join(lines)
    assert KEY not in text
    assert "Bearer sk_test_…[REDACTED]" in text
    assert "retrying in" in text
    assert "> POST " + BASE + "/runs/generation" in text
    assert "< 201" in text


def test_prepare_for_dry_run_redacts() -> None:
    client = make_client(Script())
    doc = client.prepare("POST", "/generate", body=BODY, idempotency_key="k").to_document()
    assert doc["headers"]["Authorization"] == "Bearer sk_test_…[REDACTED]"
    assert doc["url"] == BASE + "/generate"
    assert KEY not in json.dumps(doc)




def test_debug_trace_states_the_final_decision() -> None:
    lines: list[str] = []
    script = Script(httpx.Response(400, json=envelope("input_validation_error")))
    with pytest.raises(errors.BadRequestError):
        post(make_client(script, trace=lines.append))
    assert lines[-1] == "  not retrying: HTTP 400 is final"
    lines.clear()
    script = Script(*[httpx.Response(503, json=envelope("x"))] * 2)
    with pytest.raises(errors.ServerError):
        post(make_client(script, trace=lines.append, max_retries=1))
    assert lines[-1] == "  HTTP 503; not retrying: 2 attempts made (--max-retries 1)"

"""SPEC §7 "Once a run exists, it is never lost" and "Polling rides through outages": every
failure after the start request carries the run id in the JSON error line and the resume hint,
never a suggestion to run the start command again (a second, paid run)."""

from __future__ import annotations

import socket

import pytest

from tests.hostile.helpers import flora, start
from tests.hostile.rawserver import (
    RUN,
    Handler,
    close,
    created,
    json_reply,
    raw_server,
    respond,
    run_doc,
    trickle,
)

NOT_AGAIN = ("again", "re-run", "start a new run")


def _check_resumable(stderr: str, err: dict[str, object]) -> None:
    assert err["run_id"] == RUN
    hint = next(line for line in stderr.splitlines() if line.startswith("hint:"))
    assert f"flora runs wait {RUN}" in hint
    assert not any(word in hint for word in NOT_AGAIN), hint


def _drop(conn: socket.socket, req: object) -> None:
    close(conn)


@pytest.mark.parametrize(("poll", "code", "exit_code"), [
    (json_reply(503, {"error": {"code": "unknown_error", "message": "down"}}), "poll_failed", 9),
    (json_reply(429, {"error": {"code": "rate_limited", "message": "slow"}},
                {"retry-after": "1"}), "poll_failed", 9),
    (_drop, "poll_failed", 9),
    (json_reply(401, {"error": {"code": "unauthorized", "message": "no"}}), "unauthorized", 4),
    (json_reply(403, {"error": {"code": "forbidden", "message": "no"}}), "forbidden", 4),
    (json_reply(404, {"error": {"code": "not_found", "message": "gone"}}), "not_found", 5),
    (json_reply(200, {"run_id": RUN, "status": "exploded"}), "invalid_response", 1),
])
def test_failures_while_waiting_keep_the_run(poll: Handler, code: str, exit_code: int) -> None:
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, created(srv)),
        f"/api/v1/runs/{RUN}": poll,
    }) as srv:
        out = flora(start(srv, "--wait", "--poll-patience", "1.5", "--poll-interval", "0.5"))
    assert out.exit_code == exit_code, out.stderr
    err = out.error()
    assert err["error"]["code"] == code
    _check_resumable(out.stderr, err)
    assert out.seconds < 15


def test_a_poll_timeout_keeps_the_run() -> None:
    body = b'{"run_id": "run_hostile1", "status": "running"}'
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, created(srv)),
        f"/api/v1/runs/{RUN}": trickle(body, every=0.5),
    }) as srv:
        out = flora(start(srv, "--wait", "--timeout", "1", "--poll-patience", "2"))
    assert out.exit_code == 9
    _check_resumable(out.stderr, out.error())


def test_polling_rides_through_an_outage_with_one_notice() -> None:
    down = json_reply(503, {"error": {"code": "unknown_error", "message": "down"}})
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, created(srv)),
        f"/api/v1/runs/{RUN}": [down, down, down, _drop,
                                json_reply(200, run_doc("completed", []))],
    }) as srv:
        out = flora(start(srv, "--wait", "--max-retries", "0"))
    assert out.exit_code == 0, out.stderr
    assert out.json()["status"] == "completed"
    assert out.stderr.count("while polling") == 1  # one notice per outage


def test_a_server_that_goes_away_keeps_the_run() -> None:
    with raw_server({}) as gone:
        dead = gone.base_url  # closed when the block ends
    with raw_server({"/api/v1/generate": lambda c, r: respond(c, 201, {
            "run_id": RUN, "poll_url": f"{dead}/runs/{RUN}"})}) as srv:
        # the poll_url is on another origin: polled at {base}/runs/RUN, which 404s
        out = flora(start(srv, "--wait", "--poll-patience", "1"))
    assert out.exit_code == 5
    _check_resumable(out.stderr, out.error())


def test_a_malformed_poll_url_falls_back_to_the_base_url() -> None:
    # before: a poll_url with port 99999 was exit 1 "a bug in flora-cli"
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, {
            "run_id": RUN, "poll_url": "http://127.0.0.1:99999/api/v1/runs/x"}),
        f"/api/v1/runs/{RUN}": json_reply(200, run_doc("completed", [])),
    }) as srv:
        out = flora(start(srv, "--wait"))
    assert out.exit_code == 0, out.stderr
    assert srv.paths()[-1] == f"/api/v1/runs/{RUN}"


def test_an_upper_case_poll_url_is_a_url_not_a_path() -> None:
    # before: a same-origin `HTTP://…` poll_url was joined under the base URL as a path
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, {
            "run_id": RUN, "poll_url": f"HTTP://127.0.0.1:{srv.port}/api/v1/runs/{RUN}"}),
        f"/api/v1/runs/{RUN}": json_reply(200, run_doc("completed", [])),
    }) as srv:
        out = flora(start(srv, "--wait"))
    assert out.exit_code == 0, out.stderr
    assert srv.paths() == ["/api/v1/generate", f"/api/v1/runs/{RUN}"]

"""SPEC §6: a retry wait over 2 s prints one notice (unless --quiet); a server-asked delay over
60 s is not slept (exit 7, whatever its size); hints say "it was retried" only when it was."""

from __future__ import annotations

import pytest

from tests.hostile.helpers import flora, start
from tests.hostile.rawserver import json_reply, raw_server

LIMITED = {"error": {"code": "rate_limited", "message": "slow down"}}


def test_a_long_retry_wait_prints_one_notice() -> None:
    # before: a 429 with retry-after slept in silence (only --debug told why)
    with raw_server({"/api/v1/generate": [
            json_reply(429, LIMITED, {"retry-after": "2.5"}),
            json_reply(201, {"run_id": "run_1"})]}) as srv:
        out = flora(start(srv))
        quiet = flora(start(srv, "--quiet"))
    assert out.exit_code == 0
    notes = [x for x in out.stderr.splitlines() if "retrying in" in x]
    assert notes == ["rate limited (429); retrying in 2.5 s, attempt 2 of 3"]
    assert quiet.exit_code == 0 and "retrying" not in quiet.stderr


@pytest.mark.parametrize("asked", ["61", "99999999999999999999", "1e300"])
def test_a_huge_retry_after_is_exit_7_not_slept(asked: str) -> None:
    # before: retry-after 99999999999999999999 was exit 1 "a bug in flora-cli"
    with raw_server({"/api/v1/generate": json_reply(429, LIMITED, {"retry-after": asked})}) as srv:
        out = flora(start(srv))
    assert out.exit_code == 7, out.stderr
    assert len(srv.requests) == 1 and out.seconds < 10
    assert "longer than the CLI waits" in out.stderr


def test_hints_only_say_retried_when_it_was() -> None:
    down = {"error": {"code": "unknown_error", "message": "down"}}
    with raw_server({"/api/v1/generate": json_reply(503, down)}) as srv:
        once = flora(start(srv, "--max-retries", "0"))
        thrice = flora(start(srv, "--max-retries", "2"))
    assert once.exit_code == thrice.exit_code == 9
    assert "not retried" in once.stderr and "tried 3 times" in thrice.stderr

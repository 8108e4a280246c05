"""SPEC §6.1 "Deadline, not read timeout": --timeout bounds a whole attempt (connect, headers
and body); a download may take longer but not crawl; --wait-timeout is one hard deadline over
everything after the start (exit 124 with the run id, never 9)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.helpers import api, flora, start
from tests.hostile.rawserver import (
    RUN,
    created,
    json_reply,
    raw_server,
    respond,
    run_doc,
    trickle,
    trickle_headers,
)

BODY = json.dumps({"run_id": RUN, "status": "running", "progress": 1}).encode()


def test_a_trickled_body_fails_the_post_at_the_deadline() -> None:
    # before: each byte reset the read timeout, so the POST hung for the body's length
    with raw_server({"/api/v1/generate": trickle(BODY * 20, every=0.5, status=201)}) as srv:
        out = flora(start(srv, "--timeout", "1.5", "--max-retries", "0"))
    assert out.exit_code == 9
    assert out.error()["error"]["code"] == "timeout"
    assert out.seconds < 8


def test_trickled_headers_fail_the_attempt_at_the_deadline() -> None:
    with raw_server({"/api/v1/generate": trickle_headers(every=0.2)}) as srv:
        out = flora(start(srv, "--timeout", "1.5", "--max-retries", "1"))
    assert out.exit_code == 9
    assert len(srv.requests) == 2  # the retry policy still applies
    assert out.seconds < 10


def test_wait_timeout_is_a_hard_deadline_over_trickling_polls() -> None:
    # before: `--wait-timeout 3 --timeout 10` ran 31 s and exited 9
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, created(srv)),
        f"/api/v1/runs/{RUN}": trickle(BODY * 50, every=0.5),
    }) as srv:
        out = flora(start(srv, "--wait", "--wait-timeout", "3", "--timeout", "10"))
    assert out.exit_code == 124
    err = out.error()
    assert err["error"]["code"] == "wait_timeout" and err["run_id"] == RUN
    assert f"flora runs wait {RUN}" in out.stderr
    assert out.seconds < 9


def test_wait_timeout_bounds_retry_waits_too() -> None:
    # polls answered 503 with retry-after 30: the wait ends at the deadline, not after 30 s
    with raw_server({
        f"/api/v1/runs/{RUN}": json_reply(503, {"error": {"code": "x", "message": "down"}},
                                          {"retry-after": "30"}),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--wait-timeout", "2", "--json"])
    assert out.exit_code == 124
    assert out.error()["run_id"] == RUN
    assert out.seconds < 8


def test_a_crawling_download_fails_and_leaves_no_file(tmp_path: Path) -> None:
    # 200 bytes at 5 bytes/s: under 1 KiB/s for --timeout (1.5 s) fails the attempt
    png = b"\x89PNG" + b"x" * 196
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": trickle(png, every=0.2, headers={"content-type": "image/png"}),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path),
                     "--timeout", "1.5", "--max-retries", "0", "--json"])
    assert out.exit_code == 9
    err = out.error()
    assert err["error"]["code"] == "download_failed" and err["run_id"] == RUN
    assert "crawled" in err["error"]["message"]
    assert list(tmp_path.iterdir()) == []
    assert out.seconds < 10


def test_a_slow_but_steady_download_may_take_longer_than_timeout(tmp_path: Path) -> None:
    data = b"\x89PNG" + b"y" * (12 * 1024)  # 12 KiB at ~4 KiB/s: 3 s > --timeout 2
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": _steady(data, 512, 0.125),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path),
                     "--timeout", "2", "--max-retries", "0", "--json"])
    assert out.exit_code == 0, out.stderr
    assert (tmp_path / f"{RUN}-o1.png").read_bytes() == data


def _steady(data: bytes, size: int, every: float):  # type: ignore[no-untyped-def]
    import time

    from tests.hostile.rawserver import head

    def handler(conn, req):  # type: ignore[no-untyped-def]
        head(conn, 200, {"content-length": str(len(data)), "content-type": "image/png"})
        for i in range(0, len(data), size):
            conn.sendall(data[i:i + size])
            time.sleep(every)
    return handler

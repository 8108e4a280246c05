"""SPEC §6.1 "Size and shape caps": an API answer is read up to 16 MiB after decompression,
decompressed under that bound while streaming; deeper than 200 levels, NaN/Infinity, a status
outside 100-599, bad gzip or bad UTF-8 is `invalid_response` (exit 1), never a traceback,
never a MemoryError, never "a bug in flora-cli"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.hostile.helpers import api, flora, flora_peak_rss, start
from tests.hostile.rawserver import (
    RUN,
    created,
    endless_chunked,
    gzip_bomb,
    gzip_bytes,
    json_reply,
    raw_server,
    respond,
    run_doc,
)


def gz(status: int, data: bytes, ctype: str = "application/json"):  # type: ignore[no-untyped-def]
    return lambda c, r: respond(c, status, data, {"content-encoding": "gzip",
                                                  "content-type": ctype})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_gzip_bomb_costs_at_most_the_cap(tmp_path: Path) -> None:
    # before: 1 MB of gzip became 2.1 GB of RSS (4.2 GB with retries)
    bomb = gzip_bomb(1024 << 20)  # 1 GiB of zeros in ~1 MB
    with raw_server({"/api/v1/generate": gz(201, bomb)}) as srv:
        out, peak_kib = flora_peak_rss(start(srv), str(tmp_path / "peak"))
    assert out.exit_code == 1
    err = out.error()["error"]
    assert err["code"] == "invalid_response" and "16 MiB" in err["message"]
    assert len(srv.requests) == 1  # not retried
    assert peak_kib < 200 * 1024, peak_kib  # the CLI stayed small: the cap, not the bomb
    assert out.seconds < 30


def test_an_endless_chunked_body_stops_at_the_cap() -> None:
    # before: grew until MemoryError
    with raw_server({"/api/v1/generate": endless_chunked(201)}) as srv:
        out = flora(start(srv, "--timeout", "30"))
    assert out.exit_code == 1
    assert out.error()["error"]["code"] == "invalid_response"
    assert out.seconds < 30


@pytest.mark.parametrize(("body", "why"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 200"),
    (b'{"run_id": "run_1", "estimated_seconds": NaN}', "NaN"),
    (b'{"run_id": "run_1", "estimated_seconds": Infinity}', "Infinity"),
    (b'{"run_id": "run_1", "estimated_seconds": 1e999}', "infinity"),
    (b'{"run_id": "run_\xff\xfe"}', "not UTF-8"),
    (b'{"run_id": "run_\\ud800"}', "surrogate"),
    (b'\xef\xbb\xbf{"run_id": "run_1"}', "BOM"),  # as json.loads refuses it
])
def test_answers_that_are_not_plain_json_are_invalid_response(body: bytes, why: str) -> None:
    with raw_server({"/api/v1/generate": json_reply(201, body)}) as srv:
        out = flora(start(srv))
    assert out.exit_code == 1, out.stderr
    err = out.error()["error"]
    assert err["code"] == "invalid_response" and why in err["message"]
    assert out.stdout == ""  # never NaN on stdout


def test_bad_gzip_is_invalid_response() -> None:
    with raw_server({"/api/v1/generate": gz(201, b"\x1f\x8b\x08\x00garbage-not-deflate")}) as srv:
        out = flora(start(srv))
    assert out.exit_code == 1
    assert out.error()["error"]["code"] == "invalid_response"


def test_a_truncated_gzip_answer_is_invalid_response() -> None:
    data = gzip_bytes(b'{"run_id": "run_1", "poll_url": "x"}' * 100)
    with raw_server({"/api/v1/generate": gz(201, data[: len(data) // 2])}) as srv:
        out = flora(start(srv))
    assert out.exit_code == 1
    assert "truncated" in out.error()["error"]["message"]


@pytest.mark.parametrize("status", [999, 600])
def test_a_status_outside_100_599_is_invalid_response_and_not_retried(status: int) -> None:
    # before: HTTP 999 exited 9 with "it was retried" though it was not
    with raw_server({"/api/v1/generate": json_reply(status, {"run_id": "run_1"})}) as srv:
        out = flora(start(srv))
    assert out.exit_code == 1, out.stderr
    assert out.error()["error"]["code"] == "invalid_response"
    assert len(srv.requests) == 1
    assert "retried" not in out.stderr.replace("not retried", "")


def test_estimated_seconds_infinity_on_a_terminal_poll_is_invalid_response() -> None:
    # before: exit 1 "a bug in flora-cli"
    with raw_server({
        "/api/v1/generate": lambda c, r: respond(c, 201, created(srv)),
        f"/api/v1/runs/{RUN}": json_reply(200, b'{"run_id": "run_hostile1", '
                                          b'"status": "completed", "estimated_seconds": '
                                          b'Infinity}'),
    }) as srv:
        out = flora(start(srv, "--wait"))
    assert out.exit_code == 1
    err = out.error()
    assert err["error"]["code"] == "invalid_response" and err["run_id"] == RUN


def test_a_gzip_download_is_bounded_by_max_download_size(tmp_path: Path) -> None:
    # before: a gzip download expanded to a 1 GB file, exit 0
    bomb = gzip_bomb(64 << 20)
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": gz(200, bomb, "image/png"),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path),
                     "--max-download-size", "1M", "--json"])
    assert out.exit_code == 9
    err = out.error()
    assert err["error"]["code"] == "download_failed" and err["run_id"] == RUN
    assert "--max-download-size" in err["error"]["message"]
    assert list(tmp_path.iterdir()) == []
    assert [r.headers.get("accept-encoding") for r in srv.requests[1:]] == ["identity"]


def test_a_declared_length_over_max_download_size_is_refused_before_reading(
        tmp_path: Path) -> None:
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": json_reply(200, b"x" * 5000, {"content-type": "image/png"}),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path),
                     "--max-download-size", "4096", "--json"])
    assert out.exit_code == 9
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_gzip_download_with_matching_length_leaves_no_file(tmp_path: Path) -> None:
    # before: saved as complete
    data = gzip_bytes(b"\x89PNG" + bytes(range(256)) * 64)
    cut = data[: len(data) - 20]
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": gz(200, cut, "image/png"),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path),
                     "--max-retries", "1", "--json"])
    assert out.exit_code == 9
    assert "truncated" in out.error()["error"]["message"]
    assert list(tmp_path.iterdir()) == []
    assert len(srv.requests) == 3  # the poll, then two attempts


def test_a_body_shorter_than_its_content_length_leaves_no_file(tmp_path: Path) -> None:
    def lying(conn, req):  # type: ignore[no-untyped-def]
        from tests.hostile.rawserver import close, head

        head(conn, 200, {"content-length": "5000", "content-type": "image/png"})
        conn.sendall(b"\x89PNG" + b"z" * 100)
        close(conn)

    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed", [
            {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}/f/o1.png"}])),
        "/f/o1.png": lying,
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path),
                     "--max-retries", "0", "--json"])
    assert out.exit_code == 9
    assert list(tmp_path.iterdir()) == []

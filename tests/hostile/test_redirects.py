"""SPEC §6.1 "Redirects": API calls follow none; downloads follow at most 5, `Location`
resolved per RFC 3986 against the URL that answered (case-insensitive scheme, http/https only),
the key only to the API's own origin, never https → http."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.helpers import api, flora, start
from tests.hostile.rawserver import (
    RUN,
    SECRET,
    json_reply,
    raw_server,
    respond,
    run_doc,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 100


def redirect(location: str, status: int = 302):  # type: ignore[no-untyped-def]
    return lambda c, r: respond(c, status, b"", {"location": location})


def completed(srv, path: str = "/f/o1.png"):  # type: ignore[no-untyped-def]
    return lambda c, r: respond(c, 200, run_doc("completed", [
        {"output_id": "o1", "type": "imageUrl", "url": f"{srv.origin}{path}"}]))


@pytest.mark.parametrize("location", [
    "Z:/../workspaces",          # before: taken as a path under the base URL, with the key
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:image/png;base64,AAAA",
])
def test_a_redirect_to_another_scheme_is_refused(location: str, tmp_path: Path) -> None:
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: completed(srv)(c, r),
        "/f/o1.png": redirect(location),
        "/api/v1/workspaces": json_reply(200, {"workspaces": [{"secret": "private"}]}),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path), "--json"])
    assert out.exit_code in (1, 9), out.stderr
    assert "/api/v1/workspaces" not in srv.paths()
    assert srv.paths().count("/f/o1.png") == 1  # refused at once, not retried
    assert list(tmp_path.iterdir()) == []
    assert out.error()["run_id"] == RUN


def test_an_upper_case_scheme_is_a_url_not_a_path(tmp_path: Path) -> None:
    # before: `HTTPS://…` was joined under the base URL and fetched with the key
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: completed(srv)(c, r),
        "/f/o1.png": lambda c, r: redirect(f"HTTP://127.0.0.1:{srv.port}/f/real.png")(c, r),
        "/f/real.png": json_reply(200, PNG, {"content-type": "image/png"}),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.stderr
    assert srv.paths() == [f"/api/v1/runs/{RUN}", "/f/o1.png", "/f/real.png"]
    assert (tmp_path / f"{RUN}-o1.png").read_bytes() == PNG


def test_relative_redirects_resolve_against_the_answering_url(tmp_path: Path) -> None:
    with raw_server({
        f"/api/v1/runs/{RUN}": lambda c, r: completed(srv, "/a/b/o1.png")(c, r),
        "/a/b/o1.png": redirect("../c/./o1.png?sig=1", 307),
        "/a/c/o1.png": json_reply(200, PNG, {"content-type": "image/png"}),
    }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.stderr
    assert srv.paths()[-1] == "/a/c/o1.png?sig=1"


def test_the_key_goes_only_to_the_api_origin(tmp_path: Path) -> None:
    with raw_server({"/cdn/o1.png": json_reply(200, PNG, {"content-type": "image/png"})}) as cdn, \
            raw_server({
                f"/api/v1/runs/{RUN}": lambda c, r: completed(srv)(c, r),
                "/f/o1.png": lambda c, r: redirect(f"{cdn.origin}/cdn/o1.png")(c, r),
            }) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.stderr
    assert srv.requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    assert "authorization" not in cdn.requests[0].headers
    assert cdn.requests[0].headers["accept-encoding"] == "identity"


def test_more_than_five_redirects_fail(tmp_path: Path) -> None:
    routes = {f"/r/{i}": redirect(f"/r/{i + 1}") for i in range(10)}
    with raw_server({**routes,
                     f"/api/v1/runs/{RUN}": lambda c, r: completed(srv, "/r/0")(c, r)}) as srv:
        out = flora([*api(srv), "runs", "wait", RUN, "--download", str(tmp_path), "--json"])
    assert out.exit_code == 9
    assert "redirects" in out.error()["error"]["message"]
    assert srv.paths().count("/r/6") == 0 and srv.paths().count("/r/5") == 1


def test_https_to_http_is_refused() -> None:
    from flora_cli.api.client import _Attempt, _redirect_target

    with pytest.raises(_Attempt):
        _redirect_target("https://cdn.example/a.png", "http://cdn.example/a.png")
    assert _redirect_target("http://cdn.example/a.png", "HTTPS://x.example/b") == \
        "https://x.example/b"


def test_api_calls_follow_no_redirects() -> None:
    with raw_server({
        "/api/v1/generate": redirect("/api/v1/elsewhere", 307),
        "/api/v1/elsewhere": json_reply(201, {"run_id": "run_x"}),
    }) as srv:
        out = flora(start(srv))
    assert out.exit_code == 1
    assert srv.paths() == ["/api/v1/generate"]

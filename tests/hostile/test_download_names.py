"""SPEC §7 download naming: distinct files for colliding cleaned names; only a regular file of
the expected length counts as already saved (not a directory, FIFO, dangling symlink or a stale
file of another length); the next free name otherwise; allow-listed extensions, else .bin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.helpers import api, flora
from tests.hostile.rawserver import RUN, json_reply, raw_server, respond, run_doc

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2  # 520 bytes


def serve(outputs: list[tuple[str, str, bytes, str]]):  # type: ignore[no-untyped-def]
    """(output_id, path, body, content type) each; the run lists them in order."""
    def routes(srv):  # type: ignore[no-untyped-def]
        docs = [{"output_id": oid, "type": "imageUrl", "url": f"{srv.origin}{path}"}
                for oid, path, _, _ in outputs]
        table = {f"/api/v1/runs/{RUN}": lambda c, r: respond(c, 200, run_doc("completed",
                                                                                docs))}
        for _, path, body, ctype in outputs:
            table[path] = json_reply(200, body, {"content-type": ctype})
        return table
    return routes


def wait(srv, directory: Path):  # type: ignore[no-untyped-def]
    return flora([*api(srv), "runs", "wait", RUN, "--download", str(directory), "--json"])


def test_colliding_output_ids_get_distinct_files(tmp_path: Path) -> None:
    # before: `img/1`, `img_1`, `img 1` became one file with three local_files entries
    bodies = [PNG, PNG[::-1], PNG + b"!"]
    spec = [(oid, f"/f/{n}", body, "image/png")
            for n, (oid, body) in enumerate(zip(["img/1", "img_1", "img 1"], bodies,
                                                strict=True))]
    with raw_server({}) as srv:
        srv.routes.update(serve(spec)(srv))
        out = wait(srv, tmp_path)
        again = wait(srv, tmp_path)  # resuming keeps each file and maps it the same way
    assert out.exit_code == 0, out.stderr
    files = out.json()["local_files"]
    assert len({f["path"] for f in files}) == 3
    for f, body in zip(files, bodies, strict=True):
        assert Path(f["path"]).read_bytes() == body
    assert again.json()["local_files"] == files
    assert len(list(tmp_path.iterdir())) == 3


@pytest.mark.parametrize("squatter", ["directory", "fifo", "dangling symlink", "stale file"])
def test_what_is_not_the_output_does_not_count_as_saved(squatter: str, tmp_path: Path) -> None:
    # before: a directory or FIFO counted as "kept"; so did a 3-byte stale file; a dangling
    # symlink was exit 1
    name = tmp_path / f"{RUN}-o1.png"
    if squatter == "directory":
        name.mkdir()
    elif squatter == "fifo":
        os.mkfifo(name)
    elif squatter == "dangling symlink":
        name.symlink_to(tmp_path / "nowhere")
    else:
        name.write_bytes(b"old")
    with raw_server({}) as srv:
        srv.routes.update(serve([("o1", "/f/o1.png", PNG, "image/png")])(srv))
        out = wait(srv, tmp_path)
    assert out.exit_code == 0, out.stderr
    [saved] = out.json()["local_files"]
    assert saved["path"] == str(tmp_path / f"{RUN}-o1-2.png")
    assert Path(saved["path"]).read_bytes() == PNG and saved["bytes"] == len(PNG)
    assert os.path.lexists(name)  # never replaced


def test_a_regular_file_of_the_expected_length_counts_as_saved(tmp_path: Path) -> None:
    (tmp_path / f"{RUN}-o1.png").write_bytes(PNG)
    with raw_server({}) as srv:
        srv.routes.update(serve([("o1", "/f/o1.png", PNG, "image/png")])(srv))
        out = wait(srv, tmp_path)
    assert out.exit_code == 0
    assert "kept" in out.stderr
    assert [p.name for p in tmp_path.iterdir()] == [f"{RUN}-o1.png"]


@pytest.mark.parametrize(("ctype", "path", "ext"), [
    ("text/html", "/f/page.html", "bin"),
    ("application/x-sh", "/f/run.sh", "bin"),
    ("application/octet-stream", "/f/evil.exe", "bin"),
    ("application/octet-stream", "/f/movie.mp4", "mp4"),
    ("image/svg+xml", "/f/a.svg", "bin"),
    ("image/webp", "/f/x", "webp"),
])
def test_extensions_come_from_an_allow_list(ctype: str, path: str, ext: str,
                                            tmp_path: Path) -> None:
    with raw_server({}) as srv:
        srv.routes.update(serve([("o1", path, b"data", ctype)])(srv))
        out = wait(srv, tmp_path)
    assert out.exit_code == 0, out.stderr
    assert [p.name for p in tmp_path.iterdir()] == [f"{RUN}-o1.{ext}"]

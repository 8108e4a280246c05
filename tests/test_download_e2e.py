"""End-to-end: --download against the sandbox (real PNG/GIF/WAV files and text outputs over a
socket), and against a small route server for what the sandbox does not do on demand: a body
cut off mid-way, and output files on another origin."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, Outcome, run

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "gif": b"GIF89a", "wav": b"RIFF"}


def api(sb: RunningSandbox) -> list[str]:
    return ["--base-url", sb.base_url, "--api-key", SECRET]


def create(sb: RunningSandbox, *extra: str, media: str = "image",
           prompt: str = "a ceramic mug", wait: bool = True) -> Outcome:
    flags = ["--poll-interval", "0.5"] if wait else []
    return run([*api(sb), "generations", "create", "--workspace-id", sb.workspace_id,
                "--project-id", sb.project_id, "--type", media, "--prompt", prompt,
                *flags, *extra])


def served(url: str) -> bytes:
    """What the server serves at an output URL (fetched without the CLI, without a key)."""
    return httpx.get(url).content


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- the sandbox --------------------------------------------------------------------------


@pytest.mark.parametrize(("media", "ext"), [("image", "png"), ("video", "gif"),
                                            ("audio", "wav")])
def test_downloads_match_what_the_server_serves(sandbox: RunningSandbox, tmp_path: Path,
                                                media: str, ext: str) -> None:
    out_dir = tmp_path / "out"
    out = create(sandbox, "--download", str(out_dir), "--json", media=media)
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    run_id = doc["run_id"]
    assert doc["status"] == "completed"
    [output] = doc["outputs"]
    target = out_dir / f"{run_id}-{output['output_id']}.{ext}"
    data = target.read_bytes()
    assert data == served(output["url"])
    assert data.startswith(MAGIC[ext])
    assert doc["local_files"] == [{"output_id": output["output_id"], "path": str(target),
                                   "bytes": len(data)}]
    assert listing(out_dir) == [target.name]
    assert f"saved {target}" in out.stderr


def test_every_output_is_saved(sandbox: RunningSandbox, tmp_path: Path) -> None:
    out = create(sandbox, "--param", "num_images=3", "--download", str(tmp_path), "--json")
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert len(doc["outputs"]) == 3
    assert [f["output_id"] for f in doc["local_files"]] == [o["output_id"]
                                                           for o in doc["outputs"]]
    for output, local in zip(doc["outputs"], doc["local_files"], strict=True):
        assert Path(local["path"]).read_bytes() == served(output["url"])
    assert len({Path(f["path"]).read_bytes() for f in doc["local_files"]}) == 3
    assert len(listing(tmp_path)) == 3


def test_text_outputs_are_written_as_txt(sandbox: RunningSandbox, tmp_path: Path) -> None:
    out = create(sandbox, "--download", str(tmp_path), "--json", media="text",
                 prompt="a haiku about a mug")
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    [output] = doc["outputs"]
    target = tmp_path / f"{doc['run_id']}-{output['output_id']}.txt"
    assert target.read_text(encoding="utf-8") == output["url"]  # the text itself
    assert doc["local_files"][0]["bytes"] == len(output["url"].encode("utf-8"))


def test_download_creates_nested_directories(sandbox: RunningSandbox, tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "c"
    out = create(sandbox, "--download", str(nested), "--json", "--quiet")
    assert out.exit_code == 0, out.stderr
    assert len(listing(nested)) == 1
    assert out.stderr == ""  # --quiet: no status or "saved" lines


def test_existing_files_are_never_overwritten(sandbox: RunningSandbox, tmp_path: Path) -> None:
    started = create(sandbox, "--json", wait=False)
    run_id = started.json()["run_id"]
    first = run([*api(sandbox), "runs", "wait", run_id, "--download", str(tmp_path),
                 "--poll-interval", "0.5", "--json"])
    assert first.exit_code == 0, first.stderr
    [saved] = first.json()["local_files"]
    path = Path(saved["path"])
    original = path.read_bytes()

    # the same command again: the file is kept, reported, not fetched again
    again = run([*api(sandbox), "runs", "wait", run_id, "--download", str(tmp_path),
                 "--poll-interval", "0.5", "--json"])
    assert again.exit_code == 0
    assert again.json()["local_files"] == [saved]
    assert f"kept {path}" in again.stderr and "not overwritten" in again.stderr
    assert path.read_bytes() == original

    # a file of the user's under that name is kept as it is; it does not count as the
    # output (another length): the output goes to the next free name
    path.write_bytes(b"my own file")
    third = run([*api(sandbox), "runs", "wait", run_id, "--download", str(tmp_path),
                 "--poll-interval", "0.5", "--json"])
    assert third.exit_code == 0
    assert path.read_bytes() == b"my own file"
    second = path.with_name(path.stem + "-2" + path.suffix)
    assert third.json()["local_files"][0] == {**saved, "path": str(second)}
    assert second.read_bytes() == original
    assert listing(tmp_path) == sorted([path.name, second.name])


def test_download_in_pretty_lists_the_saved_files(sandbox: RunningSandbox,
                                                  tmp_path: Path) -> None:
    out = create(sandbox, "--download", str(tmp_path), "--format", "pretty")
    assert out.exit_code == 0, out.stderr
    name = listing(tmp_path)[0]
    assert "saved" in out.stdout and name[:20] in out.stdout


def test_a_failed_run_downloads_nothing(sandbox: RunningSandbox, tmp_path: Path) -> None:
    out = create(sandbox, "--download", str(tmp_path), "--json",
                 prompt="mug [fail:safety_blocked]")
    assert out.exit_code == 10
    assert "local_files" not in out.json()
    assert listing(tmp_path) == []


# -- a route server for faults the sandbox does not make --------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class RouteServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    origin: str = ""

    @property
    def base_url(self) -> str:
        return self.origin + "/api/v1"

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
         ctype: str = "application/json", length: int | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.send_header("request-id", "req_route")
    handler.end_headers()
    handler.wfile.write(body)


def json_route(doc: Any, status: int = 200) -> Route:
    return lambda h: send(h, status, json.dumps(doc).encode())


def file_route(data: bytes, ctype: str = "image/png") -> Route:
    return lambda h: send(h, 200, data, ctype)


def cut_route(data: bytes, keep: int) -> Route:
    """Announce the whole length, send `keep` bytes, close the connection."""

    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, data[:keep], "image/png", length=len(data))
        h.wfile.flush()
        h.close_connection = True

    return route


@contextmanager
def route_server() -> Iterator[RouteServer]:
    state = RouteServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.requests.append(Seen(self.command, self.path,
                                       {k.lower(): v for k, v in self.headers.items()}))
            route = state.routes.get(self.path)
            if route is None:
                send(self, 404, b'{"error":{"code":"not_found","message":"Not found."}}')
            else:
                route(self)

        do_POST = do_GET

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def completed(outputs: list[dict[str, str]]) -> dict[str, Any]:
    return {"run_id": "run_abc123", "status": "completed", "progress": 100,
            "created_at": 1700000000, "outputs": outputs}


def wait_download(srv: RouteServer, directory: Path, *extra: str) -> Outcome:
    return run(["--base-url", srv.base_url, "--api-key", SECRET, "runs", "wait", "run_abc123",
                "--download", str(directory), "--json", *extra])


def test_a_body_cut_off_midway_is_retried_then_reported_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    with route_server() as srv:
        srv.routes["/api/v1/runs/run_abc123"] = json_route(completed([
            {"output_id": "output_1", "type": "imageUrl", "url": srv.origin + "/f/good.png"},
            {"output_id": "output_2", "type": "imageUrl", "url": srv.origin + "/f/cut.png"},
            {"output_id": "output_3", "type": "imageUrl", "url": srv.origin + "/f/good.png"},
        ]))
        srv.routes["/f/good.png"] = file_route(PNG)
        srv.routes["/f/cut.png"] = cut_route(PNG, keep=1000)
        out = wait_download(srv, tmp_path, "--max-retries", "1")
    assert out.exit_code == 9, out.stderr
    err = out.error()
    assert err["error"]["code"] == "download_failed"
    assert err["error"]["output_id"] == "output_2"
    assert err["run_id"] == "run_abc123"
    assert "after 2 attempts" in err["error"]["message"]
    assert "1 of 3 outputs saved before this" in err["error"]["message"]
    assert "flora runs wait run_abc123 --download" in out.stderr
    # the run document is still printed, listing the file that was saved
    doc = out.json()
    assert [f["output_id"] for f in doc["local_files"]] == ["output_1"]
    # what is on disk: the whole first file, nothing of the cut one, no temporary file
    assert listing(tmp_path) == ["run_abc123-output_1.png"]
    assert (tmp_path / "run_abc123-output_1.png").read_bytes() == PNG
    assert len(srv.hits("/f/cut.png")) == 2  # retried once (--max-retries 1)


def test_rerunning_after_a_failed_download_fetches_only_the_rest(tmp_path: Path) -> None:
    with route_server() as srv:
        srv.routes["/api/v1/runs/run_abc123"] = json_route(completed([
            {"output_id": "output_1", "type": "imageUrl", "url": srv.origin + "/f/one.png"},
            {"output_id": "output_2", "type": "imageUrl", "url": srv.origin + "/f/two.png"},
        ]))
        srv.routes["/f/one.png"] = file_route(PNG)
        srv.routes["/f/two.png"] = cut_route(PNG, keep=10)
        failed = wait_download(srv, tmp_path, "--max-retries", "0")
        assert failed.exit_code == 9
        srv.routes["/f/two.png"] = file_route(PNG[::-1])
        resumed = wait_download(srv, tmp_path)
    assert resumed.exit_code == 0, resumed.stderr
    assert [f["output_id"] for f in resumed.json()["local_files"]] == ["output_1", "output_2"]
    # kept: asked again only for its length, not saved again
    assert listing(tmp_path) == ["run_abc123-output_1.png", "run_abc123-output_2.png"]
    assert (tmp_path / "run_abc123-output_1.png").read_bytes() == PNG
    assert (tmp_path / "run_abc123-output_2.png").read_bytes() == PNG[::-1]


def test_output_files_on_another_origin_get_no_key(tmp_path: Path) -> None:
    with route_server() as cdn, route_server() as srv:
        srv.routes["/api/v1/runs/run_abc123"] = json_route(completed([
            {"output_id": "output_1", "type": "imageUrl", "url": srv.origin + "/f/own.png"},
            {"output_id": "output_2", "type": "audioUrl", "url": cdn.origin + "/o/clip"},
        ]))
        srv.routes["/f/own.png"] = file_route(PNG)
        cdn.routes["/o/clip"] = file_route(b"RIFF....WAVEfmt ", "audio/wav")
        out = wait_download(srv, tmp_path)
    assert out.exit_code == 0, out.stderr
    assert listing(tmp_path) == ["run_abc123-output_1.png", "run_abc123-output_2.wav"]
    [cdn_request] = cdn.requests
    assert "authorization" not in cdn_request.headers
    assert srv.hits("/f/own.png")[0].headers["authorization"] == f"Bearer {SECRET}"


def test_extension_from_the_url_when_the_content_type_says_nothing(tmp_path: Path) -> None:
    with route_server() as srv:
        srv.routes["/api/v1/runs/run_abc123"] = json_route(completed([
            {"output_id": "output_1", "type": "videoUrl", "url": srv.origin + "/f/clip.mp4"},
        ]))
        srv.routes["/f/clip.mp4"] = file_route(b"\x00\x00\x00\x18ftypmp42",
                                               "application/octet-stream")
        out = wait_download(srv, tmp_path)
    assert out.exit_code == 0, out.stderr
    assert listing(tmp_path) == ["run_abc123-output_1.mp4"]


def test_a_missing_output_file_is_not_retried(tmp_path: Path) -> None:
    with route_server() as srv:
        srv.routes["/api/v1/runs/run_abc123"] = json_route(completed([
            {"output_id": "output_1", "type": "imageUrl", "url": srv.origin + "/f/gone.png"},
        ]))
        out = wait_download(srv, tmp_path)
    assert out.exit_code == 9
    assert out.error()["http_status"] == 404
    assert len(srv.hits("/f/gone.png")) == 1
    assert listing(tmp_path) == []

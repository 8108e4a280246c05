"""Units of flora_cli.api.download over httpx.MockTransport: names, extensions, retries,
length checks, no-clobber, the key's origin, and what is left on disk when a download fails."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from flora_cli.api import errors
from flora_cli.api.client import FloraClient
from flora_cli.api.download import (
    Downloader,
    extension_for,
    file_stem,
    safe_component,
)

BASE = "https://api.flora.test/api/v1"
KEY = "sk_test_downloadkey123"
RUN = "run_abc123"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@dataclass
class Files:
    """A MockTransport: URL → list of answers (the last one repeats); records requests."""

    routes: dict[str, list[Any]]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get(str(request.url))
        if not answers:
            return httpx.Response(404, text="no such file")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        result: httpx.Response = answer(request) if callable(answer) else answer
        return result


@pytest.fixture
def files() -> Files:
    return Files({})


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(files: Files, sleeps: list[float]) -> Iterator[FloraClient]:
    c = FloraClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(files),
                    sleep=sleeps.append, max_retries=2)
    yield c
    c.close()


@pytest.fixture
def notes() -> list[str]:
    return []


def downloader(client: FloraClient, directory: Path, notes: list[str]) -> Downloader:
    return Downloader(client, directory, RUN, notify=notes.append)


def png(content: bytes = PNG, **headers: str) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "image/png", **headers})


def out(output_id: str, url: str, type_: str = "imageUrl") -> dict[str, Any]:
    return {"output_id": output_id, "type": type_, "url": url}


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- names and extensions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "url", "ext"),
    [
        ("image/png", "https://x.test/a", "png"),
        ("image/jpeg", "https://x.test/a.png", "jpg"),  # the content type wins over the URL
        ("image/gif; charset=binary", None, "gif"),
        ("audio/wav", None, "wav"),
        ("audio/x-wav", None, "wav"),
        ("video/mp4", None, "mp4"),
        ("text/plain; charset=utf-8", None, "txt"),
        ("application/octet-stream", "https://x.test/f/clip.WEBM?sig=1", "webm"),
        (None, "https://x.test/f/image.jpeg#frag", "jpeg"),
        ("", "https://x.test/f/noext", "bin"),
        ("application/octet-stream", "https://x.test/f/weird.ext!", "bin"),
        (None, None, "bin"),
    ],
)
def test_extension_for(content_type: str | None, url: str | None, ext: str) -> None:
    assert extension_for(content_type, url) == ext


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("output_1", "output_1"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("a/b\\c d", "a_b_c_d"),
        (".hidden", "hidden"),
        ("...", "_"),
        ("", "_"),
    ],
)
def test_safe_component(value: str, safe: str) -> None:
    assert safe_component(value) == safe
    assert "/" not in safe and not safe.startswith(".")


def test_file_stem() -> None:
    assert file_stem("run_a1", "output_2") == "run_a1-output_2"


# -- saving -----------------------------------------------------------------------------


def test_saves_an_output_streamed_and_renamed(client: FloraClient, files: Files, tmp_path: Path,
                                             notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [png()]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is None
    target = tmp_path / f"{RUN}-output_1.png"
    assert target.read_bytes() == PNG
    assert [f.to_document() for f in report.files] == [
        {"output_id": "output_1", "path": str(target), "bytes": len(PNG)}]
    assert listing(tmp_path) == [target.name]  # no temporary file left
    assert notes == [f"saved {target} (2.1 kB)"]
    # the file gets the usual mode (umask), not a temporary file's 0600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_key_goes_only_to_the_api_origin(client: FloraClient, files: Files,
                                         tmp_path: Path, notes: list[str]) -> None:
    own = f"{BASE}/files/{RUN}/output_1.png"
    cdn = "https://cdn.example.test/o/output_2.png"
    files.routes[own] = [png()]
    files.routes[cdn] = [png()]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", own),
                                                           out("output_2", cdn)])
    assert report.error is None
    by_host = {r.url.host: r.headers.get("authorization") for r in files.requests}
    assert by_host == {"api.flora.test": f"Bearer {KEY}", "cdn.example.test": None}


def test_redirects_are_followed_without_carrying_the_key(client: FloraClient, files: Files,
                                                         tmp_path: Path,
                                                         notes: list[str]) -> None:
    own = f"{BASE}/files/{RUN}/output_1"
    cdn = "https://cdn.example.test/signed/output_1.webp?sig=abc"
    files.routes[own] = [httpx.Response(302, headers={"location": cdn})]
    files.routes[cdn] = [httpx.Response(200, content=b"RIFFxxxxWEBP",
                                        headers={"content-type": "image/webp"})]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", own)])
    assert report.error is None
    assert (tmp_path / f"{RUN}-output_1.webp").read_bytes() == b"RIFFxxxxWEBP"
    assert [r.headers.get("authorization") for r in files.requests] == [f"Bearer {KEY}", None]


def test_text_output_is_written_as_txt(client: FloraClient, files: Files, tmp_path: Path,
                                      notes: list[str]) -> None:
    text = "A haiku:\nmug on a sunlit table — ☕\nsteam"
    report = downloader(client, tmp_path, notes).save_all([out("output_1", text, "text")])
    target = tmp_path / f"{RUN}-output_1.txt"
    assert target.read_text(encoding="utf-8") == text
    assert report.files[0].bytes == len(text.encode("utf-8"))
    assert files.requests == []  # nothing was fetched


def test_text_output_with_a_url_is_downloaded(client: FloraClient, files: Files,
                                              tmp_path: Path, notes: list[str]) -> None:
    url = "https://cdn.example.test/t/output_1"
    files.routes[url] = [httpx.Response(200, text="# Title\n",
                                        headers={"content-type": "text/markdown"})]
    downloader(client, tmp_path, notes).save_all([out("output_1", url, "text")])
    assert (tmp_path / f"{RUN}-output_1.md").read_text() == "# Title\n"


def test_an_unsafe_output_id_stays_inside_the_directory(client: FloraClient, tmp_path: Path,
                                                        notes: list[str]) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    downloader(client, inner, notes).save_all([out("../../escape", "hi", "text")])
    assert listing(inner) == [f"{RUN}-_.._escape.txt"]
    assert listing(tmp_path) == ["inner"]


# -- never overwriting ------------------------------------------------------------------


def test_an_existing_file_of_the_expected_length_is_kept(
        client: FloraClient, files: Files, tmp_path: Path, notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [png(PNG, **{"content-length": str(len(PNG))})]
    existing = tmp_path / f"{RUN}-output_1.png"
    existing.write_bytes(b"m" * len(PNG))
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is None
    assert existing.read_bytes() == b"m" * len(PNG)
    assert report.files[0].to_document() == {"output_id": "output_1", "path": str(existing),
                                             "bytes": len(PNG)}
    assert listing(tmp_path) == [existing.name]
    assert notes == [f"kept {existing} ({len(PNG) / 1000:.1f} kB): it already exists, "
                     "not overwritten"]


def test_a_stale_file_of_another_length_is_kept_but_not_counted(
        client: FloraClient, files: Files, tmp_path: Path, notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [png(PNG, **{"content-length": str(len(PNG))})]
    stale = tmp_path / f"{RUN}-output_1.png"
    stale.write_bytes(b"old")
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is None
    assert stale.read_bytes() == b"old"  # never overwritten
    fresh = tmp_path / f"{RUN}-output_1-2.png"
    assert fresh.read_bytes() == PNG
    assert report.files[0].to_document() == {"output_id": "output_1", "path": str(fresh),
                                             "bytes": len(PNG)}


def test_a_file_that_appears_during_the_download_is_not_replaced(
    client: FloraClient, files: Files, tmp_path: Path, notes: list[str]
) -> None:
    url = f"{BASE}/files/{RUN}/output_1"
    target = tmp_path / f"{RUN}-output_1.png"

    class Racing(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield PNG[:10]
            target.write_bytes(b"written meanwhile")  # after the headers, before the rename
            yield PNG[10:]

    def racing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "image/png"}, stream=Racing())

    files.routes[url] = [racing]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is None
    assert target.read_bytes() == b"written meanwhile"  # never replaced
    # local_files points at the real bytes, under the next free name
    assert report.files[0].path == str(tmp_path / f"{RUN}-output_1-2.png")
    assert report.files[0].bytes == len(PNG)
    assert listing(tmp_path) == sorted([target.name, f"{RUN}-output_1-2.png"])


# -- failures, retries ------------------------------------------------------------------


class _Truncated(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield PNG[:100]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def truncated(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "image/png",
                                        "content-length": str(len(PNG))}, stream=_Truncated())


def test_a_transient_failure_is_retried(client: FloraClient, files: Files, tmp_path: Path,
                                        sleeps: list[float], notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [httpx.Response(503, headers={"retry-after": "2"}), truncated, png()]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is None
    assert (tmp_path / f"{RUN}-output_1.png").read_bytes() == PNG
    assert len(files.requests) == 3
    assert sleeps[0] == 2.0 and len(sleeps) == 2  # retry-after honoured, then backoff


def test_a_broken_body_leaves_no_partial_file(client: FloraClient, files: Files,
                                              tmp_path: Path, notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [truncated]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    err = report.error
    assert isinstance(err, errors.DownloadError)
    assert err.exit_code == 9 and err.code == "download_failed" and err.run_id == RUN
    assert "output_1" in err.message and "after 3 attempts" in err.message
    assert "peer closed connection" in err.message
    assert err.error["output_id"] == "output_1"
    assert err.hint is None  # the CLI layer words the resume hint
    assert len(files.requests) == 3  # max_retries=2
    assert listing(tmp_path) == []


def test_a_length_mismatch_is_detected(client: FloraClient, files: Files, tmp_path: Path,
                                       notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [png(PNG[:50], **{"content-length": str(len(PNG))})]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is not None
    assert f"received 50 bytes, Content-Length said {len(PNG)}" in report.error.message
    assert listing(tmp_path) == []
    assert len(files.requests) == 3


def test_a_correct_length_passes(client: FloraClient, files: Files, tmp_path: Path,
                                 notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [png(PNG, **{"content-length": str(len(PNG))})]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is None and report.files[0].bytes == len(PNG)


def test_a_404_is_final_and_files_already_saved_stay(client: FloraClient, files: Files,
                                                    tmp_path: Path, notes: list[str]) -> None:
    good = f"{BASE}/files/{RUN}/output_1.png"
    gone = f"{BASE}/files/{RUN}/output_2.png"
    files.routes[good] = [png()]
    files.routes[gone] = [httpx.Response(404, json={"error": {"code": "not_found",
                                                              "message": "gone"}})]
    report = downloader(client, tmp_path, notes).save_all(
        [out("output_1", good), out("output_2", gone), out("output_3", good)])
    assert [f.output_id for f in report.files] == ["output_1"]
    assert report.error is not None
    assert report.error.http_status == 404
    assert "HTTP 404" in report.error.message
    assert "1 of 3 outputs saved before this" in report.error.message
    assert listing(tmp_path) == [f"{RUN}-output_1.png"]
    assert [str(r.url) for r in files.requests] == [good, gone]  # 404 not retried


def test_a_server_delay_over_60_s_is_not_slept(client: FloraClient, files: Files,
                                               tmp_path: Path, sleeps: list[float],
                                               notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [httpx.Response(429, headers={"retry-after": "600"})]
    report = downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert report.error is not None and report.error.http_status == 429
    assert sleeps == [] and len(files.requests) == 1


def test_an_output_without_a_url_is_an_error(client: FloraClient, tmp_path: Path,
                                             notes: list[str]) -> None:
    report = downloader(client, tmp_path, notes).save_all([out("output_1", "not a url")])
    assert report.error is not None
    assert "no http(s) URL" in report.error.message


def test_ctrl_c_mid_download_leaves_no_partial_file(client: FloraClient, files: Files,
                                                    tmp_path: Path, notes: list[str]) -> None:
    class Interrupted(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield PNG[:10]
            raise KeyboardInterrupt

    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [lambda r: httpx.Response(200, stream=Interrupted())]
    with pytest.raises(errors.InterruptedError_) as info:
        downloader(client, tmp_path, notes).save_all([out("output_1", url)])
    assert info.value.exit_code == 130 and info.value.run_id == RUN
    assert info.value.hint is None
    assert listing(tmp_path) == []


def test_an_unwritable_directory_is_a_download_error(client: FloraClient, files: Files,
                                                     tmp_path: Path, notes: list[str]) -> None:
    url = f"{BASE}/files/{RUN}/output_1.png"
    files.routes[url] = [png()]
    missing = tmp_path / "removed"
    report = downloader(client, missing, notes).save_all([out("output_1", url)])
    assert report.error is not None and "Could not save output output_1" in report.error.message

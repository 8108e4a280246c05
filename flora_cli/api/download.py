"""Saving a run's outputs into a directory (SPEC §7).

Each output becomes `RUN_ID-OUTPUT_ID.EXT`: the extension comes from the response's content
type, else from the URL's path. Bytes stream into a hidden temporary file in the same
directory, the length is checked against `Content-Length`, and the file is renamed into place
only when whole. A file already there is never overwritten: the output is skipped (an earlier
download of the same run saved it) and the existing file is reported. Requests go through
`FloraClient.stream()`, whose `prepare()` sends the key only to the API's own origin; a failed
download is retried with the client's policy, then reported as a `DownloadError`.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

from flora_cli.api import errors, retry
from flora_cli.api.polling import interrupted, is_http_url

if TYPE_CHECKING:
    import httpx

    from flora_cli.api.client import FloraClient

#: Content types whose usual extension `mimetypes` gets wrong or does not know everywhere.
CONTENT_TYPE_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/svg+xml": "svg",
    "image/tiff": "tiff",
    "image/bmp": "bmp",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "video/x-matroska": "mkv",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "audio/webm": "weba",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/html": "html",
    "text/csv": "csv",
    "application/json": "json",
    "application/pdf": "pdf",
    "model/gltf-binary": "glb",
}
#: Content types that say nothing about the file: the URL's extension is used instead.
GENERIC_CONTENT_TYPES = frozenset({"application/octet-stream", "binary/octet-stream",
                                   "application/binary", "application/unknown"})
MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
TEMP_SUFFIX = ".part"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_EXTENSION = re.compile(r"[a-z0-9]{1,10}")


class ByteProgress(Protocol):
    """What the download reports while a file streams (a progress bar, or nothing)."""

    def begin(self, label: str, total: int | None) -> None: ...
    def advance(self, count: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    """The ByteProgress that shows nothing."""

    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True)
class LocalFile:
    """One saved output, as listed under `local_files` in the final run document."""

    output_id: str
    path: str
    bytes: int

    def to_document(self) -> dict[str, Any]:
        return {"output_id": self.output_id, "path": self.path, "bytes": self.bytes}


@dataclass
class DownloadReport:
    """What was saved, and the error that stopped the rest (None when all were saved)."""

    files: list[LocalFile]
    error: errors.DownloadError | None = None


# -- names ------------------------------------------------------------------------------


def safe_component(value: str) -> str:
    """A file-name-safe form of an ID from the API: no separators, no leading dot."""
    cleaned = _UNSAFE.sub("_", value).lstrip(".")
    return cleaned or "_"


def file_stem(run_id: str, output_id: str) -> str:
    return f"{safe_component(run_id)}-{safe_component(output_id)}"


def extension_for(content_type: str | None, url: str | None) -> str:
    """The extension (no dot): from the content type, else the URL's path, else `bin`."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in GENERIC_CONTENT_TYPES:
        known = CONTENT_TYPE_EXTENSIONS.get(media)
        if known:
            return known
        guessed = mimetypes.guess_extension(media, strict=False)
        if guessed and _EXTENSION.fullmatch(guessed.lstrip(".").lower()):
            return guessed.lstrip(".").lower()
    if url:
        suffix = PurePosixPath(urlsplit(url).path).suffix.lstrip(".").lower()
        if _EXTENSION.fullmatch(suffix):
            return suffix
    return "bin"


def existing_output(directory: Path, stem: str) -> Path | None:
    """A file saved earlier for this output (`STEM.EXT`, any extension), if there is one."""
    prefix = stem + "."
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return None
    for entry in entries:
        name = entry.name
        if name.startswith(prefix) and "." not in name[len(prefix):] and entry.is_file():
            return entry
    return None


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} bytes"  # pragma: no cover


# -- writing ----------------------------------------------------------------------------


def _place(temp: Path, final: Path) -> bool:
    """Move a complete temporary file to its final name without ever replacing a file.

    Returns False when `final` already exists (the temporary file is then removed).
    """
    try:
        os.link(temp, final)
    except FileExistsError:
        temp.unlink(missing_ok=True)
        return False
    except OSError:
        # No hard links on this file system: check, then rename (a narrow race, no worse).
        if final.exists():
            temp.unlink(missing_ok=True)
            return False
        os.replace(temp, final)
        return True
    temp.unlink(missing_ok=True)
    return True


def _temp_file(directory: Path, stem: str) -> tuple[int, Path]:
    """A new hidden `.STEM.RANDOM.part` in DIR, created exclusively with mode 0666 & ~umask
    (tempfile.mkstemp would make it 0600, and the saved file would keep that)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = directory / f".{stem}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {directory}")  # pragma: no cover


class _Retry(Exception):
    """One attempt failed in a way the policy retries; `delay` is the server's ask, if any."""

    def __init__(self, reason: str, delay: float | None = None,
                 http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.http_status = http_status


class _Outcome:
    """The result of one attempt: a saved (or already present) file."""

    def __init__(self, path: Path, size: int, existed: bool) -> None:
        self.path = path
        self.size = size
        self.existed = existed


class Downloader:
    """Saves outputs of one run into one directory."""

    def __init__(
        self,
        client: FloraClient,
        directory: Path,
        run_id: str,
        *,
        notify: Callable[[str], None] | None = None,
        progress: ByteProgress | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.client = client
        self.directory = directory
        self.run_id = run_id
        self.notify = notify or (lambda _msg: None)
        self.progress: ByteProgress = progress or NoProgress()
        self.sleep = sleep or client.sleep

    # -- the public entry point -------------------------------------------------------

    def save_all(self, outputs: Any) -> DownloadReport:
        """Save every output in order; stop at the first one that cannot be saved."""
        report = DownloadReport(files=[])
        if outputs is None:
            return report
        if not isinstance(outputs, list):
            report.error = self._error(
                f"Run {self.run_id}: 'outputs' is not a list; nothing could be saved.")
            return report
        try:
            for index, output in enumerate(outputs):
                saved = self.save_one(output, index)
                if isinstance(saved, errors.DownloadError):
                    saved.message += self._progress_note(report, len(outputs))
                    saved.error["message"] = saved.message
                    report.error = saved
                    return report
                report.files.append(saved)
        except KeyboardInterrupt:
            raise interrupted(self.run_id, "downloading the outputs of") from None
        return report

    def save_one(self, output: Any, index: int = 0) -> LocalFile | errors.DownloadError:
        if not isinstance(output, dict) or not isinstance(output.get("output_id"), str):
            return self._error(f"Output #{index + 1} of run {self.run_id} has no output_id; "
                               "it breaks the API contract.")
        output_id: str = output["output_id"]
        url = output.get("url")
        stem = file_stem(self.run_id, output_id)
        earlier = existing_output(self.directory, stem)
        if earlier is not None:
            return self._skipped(output_id, earlier)
        if is_http_url(url):
            return self._download(output_id, str(url), stem)
        if output.get("type") == "text" and isinstance(url, str):
            return self._write_text(output_id, url, stem)
        return self._error(
            f"Output {output_id} of run {self.run_id} has no http(s) URL to download "
            f"(type {output.get('type')!r}).", output_id=output_id)

    # -- helpers -----------------------------------------------------------------------

    def _error(self, message: str, *, output_id: str | None = None,
               http_status: int | None = None) -> errors.DownloadError:
        error: dict[str, Any] = {"code": "download_failed", "message": message}
        if output_id is not None:
            error["output_id"] = output_id
        return errors.DownloadError(
            message,
            error=error,
            http_status=http_status,
            run_id=self.run_id,
        )

    def _progress_note(self, report: DownloadReport, total: int) -> str:
        saved = len(report.files)
        return f" ({saved} of {total} output{'s' if total != 1 else ''} saved before this.)"

    def _local(self, output_id: str, path: Path, size: int) -> LocalFile:
        return LocalFile(output_id=output_id, path=str(path), bytes=size)

    def _skipped(self, output_id: str, path: Path) -> LocalFile:
        size = path.stat().st_size
        self.notify(f"kept {path} ({human_bytes(size)}): it already exists, not overwritten")
        return self._local(output_id, path, size)

    def _write_text(self, output_id: str, text: str, stem: str) -> LocalFile | errors.DownloadError:
        final = self.directory / f"{stem}.txt"
        data = text.encode("utf-8")
        try:
            fd, temp = _temp_file(self.directory, stem)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                placed = _place(temp, final)
            finally:
                temp.unlink(missing_ok=True)
        except OSError as exc:
            return self._error(f"Could not write {final}: {exc.strerror or exc}",
                               output_id=output_id)
        if not placed:
            return self._skipped(output_id, final)
        self.notify(f"saved {final} ({human_bytes(len(data))})")
        return self._local(output_id, final, len(data))

    def _download(self, output_id: str, url: str, stem: str) -> LocalFile | errors.DownloadError:
        retries_done = 0
        while True:
            try:
                outcome = self._attempt(url, stem)
            except _Retry as failure:
                can_retry = retries_done < self.client.max_retries
                if failure.delay is not None and failure.delay > retry.MAX_SERVER_DELAY:
                    can_retry = False
                if not can_retry:
                    attempts = retries_done + 1
                    return self._error(
                        f"Could not download output {output_id} of run {self.run_id} from "
                        f"{url}: {failure.reason} (after {attempts} attempt"
                        f"{'s' if attempts != 1 else ''}).",
                        output_id=output_id,
                        http_status=failure.http_status,
                    )
                delay = failure.delay if failure.delay is not None else retry.backoff(
                    retries_done)
                if self.client.trace is not None:
                    self.client.trace(f"  download failed: {failure.reason}; "
                                      f"retrying in {delay:.2f} s")
                self.sleep(delay)
                retries_done += 1
                continue
            except _Final as final:
                return self._error(
                    f"Could not download output {output_id} of run {self.run_id} from {url}: "
                    f"{final.reason}.",
                    output_id=output_id,
                    http_status=final.http_status,
                )
            except OSError as exc:
                return self._error(
                    f"Could not save output {output_id} of run {self.run_id} in "
                    f"{self.directory}: {exc.strerror or exc}",
                    output_id=output_id,
                )
            if outcome.existed:
                return self._skipped(output_id, outcome.path)
            self.notify(f"saved {outcome.path} ({human_bytes(outcome.size)})")
            return self._local(output_id, outcome.path, outcome.size)

    def _attempt(self, url: str, stem: str) -> _Outcome:
        """One download, following up to MAX_REDIRECTS redirects (each re-prepared, so the
        key goes only to the API's origin). Raises _Retry or _Final on failure."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                with self.client.stream(current) as resp:
                    status = resp.status_code
                    if status in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                        current = urljoin(current, resp.headers["location"])
                        continue
                    if not 200 <= status < 300:
                        self._refuse(resp)
                    return self._save_body(resp, current, stem)
            except errors.APIConnectionError as exc:
                raise _Retry(_reason(exc)) from None
        raise _Final(f"more than {MAX_REDIRECTS} redirects")

    def _refuse(self, resp: httpx.Response) -> None:
        headers = {k.lower(): v for k, v in resp.headers.items()}
        reason = f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip()
        if retry.should_retry(resp.status_code, headers):
            asked = retry.parse_retry_after(headers)
            raise _Retry(reason, asked, resp.status_code)
        raise _Final(reason, resp.status_code)

    def _save_body(self, resp: httpx.Response, url: str, stem: str) -> _Outcome:
        ext = extension_for(resp.headers.get("content-type"), url)
        final = self.directory / f"{stem}.{ext}"
        if final.exists():
            return _Outcome(final, final.stat().st_size, existed=True)
        expected = _content_length(resp.headers.get("content-length"))
        # Content-Length counts the bytes on the wire: with a content encoding (gzip…) that
        # is the raw count, else it is the count of bytes written.
        encoded = resp.headers.get("content-encoding", "identity").strip().lower() not in (
            "", "identity")
        fd, temp = _temp_file(self.directory, stem)
        written = 0
        try:
            self.progress.begin(final.name, None if encoded else expected)
            try:
                with os.fdopen(fd, "wb") as fh:
                    for chunk in resp.iter_bytes(CHUNK_SIZE):
                        fh.write(chunk)
                        written += len(chunk)
                        self.progress.advance(len(chunk))
                    fh.flush()
                    os.fsync(fh.fileno())
            finally:
                self.progress.end()
            received = resp.num_bytes_downloaded if encoded else written
            if expected is not None and received != expected:
                raise _Retry(f"received {received} bytes, Content-Length said {expected}")
            if not _place(temp, final):
                return _Outcome(final, final.stat().st_size, existed=True)
            return _Outcome(final, written, existed=False)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)


class _Final(Exception):
    """One attempt failed in a way the policy does not retry."""

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


def _content_length(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def _reason(exc: errors.FloraError) -> str:
    cause = exc.__cause__
    if cause is not None and str(cause):
        return f"{type(cause).__name__}: {cause}"
    if cause is not None:
        return type(cause).__name__
    return exc.message

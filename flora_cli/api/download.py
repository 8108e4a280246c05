"""Saving a run's outputs into a directory.

Each output becomes `RUN_ID-OUTPUT_ID.EXT`; the extension comes from an allow-list of media
types (the content type, else the URL's path), anything else is `.bin`, so a server cannot make
`.sh` or `.html` files. Every request goes through the client's one transport loop
(`FloraClient.fetch`: deadlines, redirects, `Accept-Encoding: identity`, length and size checks,
retries). Bytes stream into a hidden temporary file in DIR, which is renamed into place only
when whole; any failure or signal removes it.

A path counts as "already saved" only when it is a regular file (not a directory, FIFO or
symlink) with the expected length; otherwise the output goes to the next free name
(`RUN_ID-OUTPUT_ID-2.EXT`, …). Two outputs whose cleaned names collide (`img/1`, `img_1`) get
distinct files, and `local_files` always points at the real bytes.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from flora_cli.api import errors
from flora_cli.api.polling import interrupted, is_http_url
from flora_cli.textsafe import clean_line

if TYPE_CHECKING:
    from flora_cli.api.client import FloraClient, ResponseHead

#: The allow-list: media types and the only extensions a saved file can get.
CONTENT_TYPE_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/heic": "heic",
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
    "text/csv": "csv",
    "application/json": "json",
    "application/pdf": "pdf",
    "model/gltf-binary": "glb",
}
ALLOWED_EXTENSIONS = frozenset(CONTENT_TYPE_EXTENSIONS.values()) | {"jpeg", "tif"}
#: Content types that say nothing about the file: the URL's extension is used instead.
GENERIC_CONTENT_TYPES = frozenset({"application/octet-stream", "binary/octet-stream",
                                   "application/binary", "application/unknown"})
TEMP_SUFFIX = ".part"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: The longest cleaned ID in a file name (a name must stay under the usual 255 bytes).
MAX_COMPONENT = 100
#: How many `-N` names are tried before giving up.
MAX_NAME_TRIES = 1000


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
    cleaned = _UNSAFE.sub("_", value).lstrip(".")[:MAX_COMPONENT]
    return cleaned or "_"


def file_stem(run_id: str, output_id: str) -> str:
    return f"{safe_component(run_id)}-{safe_component(output_id)}"


def extension_for(content_type: str | None, url: str | None) -> str:
    """The extension (no dot), from the allow-list only: the content type's, else the URL
    path's, else `bin`."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in GENERIC_CONTENT_TYPES:
        known = CONTENT_TYPE_EXTENSIONS.get(media)
        if known:
            return known
    if url:
        try:
            suffix = PurePosixPath(urlsplit(url).path).suffix.lstrip(".").lower()
        except ValueError:
            suffix = ""
        if suffix in ALLOWED_EXTENSIONS:
            return suffix
    return "bin"


def candidate_names(stem: str, ext: str) -> Iterator[str]:
    """`STEM.EXT`, `STEM-2.EXT`, `STEM-3.EXT`, …"""
    yield f"{stem}.{ext}"
    for n in range(2, MAX_NAME_TRIES + 1):
        yield f"{stem}-{n}.{ext}"


def saved_size(path: Path) -> int | None:
    """The size of `path` when it is a regular file (not a symlink, directory, FIFO…)."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} bytes"  # pragma: no cover


# -- writing ----------------------------------------------------------------------------


def _link(temp: Path, final: Path) -> bool:
    """Give the complete temporary file its final name without ever replacing anything.

    Returns False when `final` exists (anything: a file, a directory, a dangling symlink).
    """
    try:
        os.link(temp, final)
    except FileExistsError:
        return False
    except OSError:
        # No hard links on this file system: check, then rename (a narrow race, no worse).
        if os.path.lexists(final):
            return False
        os.replace(temp, final)
        return True
    return True


def _temp_file(directory: Path, stem: str) -> tuple[int, Path]:
    """A new hidden `.STEM.RANDOM.part` in DIR, created exclusively with mode 0666 & ~umask
    (tempfile.mkstemp would make it 0600, and the saved file would keep that)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        path = directory / f".{stem}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {directory}")  # pragma: no cover


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
        sleep: Callable[[float], None] | None = None,  # kept for callers; the client sleeps
        deadline: float | None = None,
        max_bytes: int | None = None,
    ) -> None:
        from flora_cli.api.client import DEFAULT_MAX_DOWNLOAD

        self.client = client
        self.directory = directory
        self.run_id = run_id
        self.notify = notify or (lambda _msg: None)
        self.progress: ByteProgress = progress or NoProgress()
        self.deadline = deadline
        self.max_bytes = DEFAULT_MAX_DOWNLOAD if max_bytes is None else max_bytes
        #: File names given to outputs in this session: a later output never reuses one.
        self.claimed: set[str] = set()

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
        except KeyboardInterrupt as exc:
            raise interrupted(self.run_id, "downloading the outputs of", signal=exc) from None
        return report

    def save_one(self, output: Any, index: int = 0) -> LocalFile | errors.DownloadError:
        if not isinstance(output, dict) or not isinstance(output.get("output_id"), str):
            return self._error(f"Output #{index + 1} of run {self.run_id} has no output_id; "
                               "it breaks the API contract.")
        output_id: str = output["output_id"]
        url = output.get("url")
        stem = file_stem(self.run_id, output_id)
        shown = clean_line(output_id)
        try:
            if is_http_url(url):
                return self._download(output_id, str(url), stem)
            if output.get("type") == "text" and isinstance(url, str):
                return self._store_text(output_id, url, stem)
        except OSError as exc:
            return self._error(
                f"Could not save output {shown} of run {self.run_id} in "
                f"{clean_line(str(self.directory))}: {exc.strerror or exc}", output_id=output_id)
        return self._error(
            f"Output {shown} of run {self.run_id} has no http(s) URL to download "
            f"(type {clean_line(repr(output.get('type'))[:40])}).", output_id=output_id)

    # -- helpers -----------------------------------------------------------------------

    def _error(self, message: str, *, output_id: str | None = None,
               http_status: int | None = None,
               attempts: int | None = None) -> errors.DownloadError:
        error: dict[str, Any] = {"code": "download_failed", "message": message}
        if output_id is not None:
            error["output_id"] = output_id
        return errors.DownloadError(
            message,
            error=error,
            http_status=http_status,
            run_id=self.run_id,
            attempts=attempts,
        )

    def _progress_note(self, report: DownloadReport, total: int) -> str:
        saved = len(report.files)
        return f" ({saved} of {total} output{'s' if total != 1 else ''} saved before this.)"

    def _kept(self, output_id: str, path: Path, size: int) -> LocalFile:
        self.notify(f"kept {clean_line(str(path))} ({human_bytes(size)}): it already exists, "
                    "not overwritten")
        return LocalFile(output_id=output_id, path=str(path), bytes=size)

    def _saved(self, output_id: str, path: Path, size: int) -> LocalFile:
        self.notify(f"saved {clean_line(str(path))} ({human_bytes(size)})")
        return LocalFile(output_id=output_id, path=str(path), bytes=size)

    def _already_saved(self, stem: str, ext: str, size: int) -> Path | None:
        """The first unclaimed candidate that is a regular file of `size` bytes, looking no
        further than the first free name (files beyond it belong to nothing of ours)."""
        for name in candidate_names(stem, ext):
            if name in self.claimed:
                continue
            path = self.directory / name
            have = saved_size(path)
            if have == size:
                return path
            if have is None and not os.path.lexists(path):
                return None
        return None

    def _place(self, temp: Path, stem: str, ext: str) -> Path:
        """Link the temporary file under the first free unclaimed name."""
        for name in candidate_names(stem, ext):
            if name in self.claimed:
                continue
            final = self.directory / name
            if _link(temp, final):
                return final
        raise FileExistsError(f"no free name for {stem}.{ext} in {self.directory}")

    def _store_text(self, output_id: str, text: str, stem: str) -> LocalFile:
        data = text.encode("utf-8", "replace")
        kept = self._already_saved(stem, "txt", len(data))
        if kept is not None:
            self.claimed.add(kept.name)
            return self._kept(output_id, kept, len(data))
        fd, temp = _temp_file(self.directory, stem)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            final = self._place(temp, stem, "txt")
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        self.claimed.add(final.name)
        return self._saved(output_id, final, len(data))

    def _download(self, output_id: str, url: str, stem: str) -> LocalFile | errors.DownloadError:
        def receive(head: ResponseHead, chunks: Iterator[bytes]) -> LocalFile:
            ext = extension_for(head.headers.get("content-type"), head.url)
            if head.content_length is not None:
                kept = self._already_saved(stem, ext, head.content_length)
                if kept is not None:
                    self.claimed.add(kept.name)
                    return self._kept(output_id, kept, head.content_length)
            return self._write(output_id, stem, ext, head, chunks)

        try:
            return self.client.fetch(url, receive, max_bytes=self.max_bytes,
                                     deadline=self.deadline)
        except errors.WaitTimeoutError:
            raise
        except errors.FloraError as exc:
            return self._error(
                f"Could not download output {clean_line(output_id)} of run {self.run_id} "
                f"from {clean_line(url.split('?', 1)[0][:200])}: {exc.message}"
                + (f" (after {exc.attempts} attempts)" if (exc.attempts or 0) > 1 else ""),
                output_id=output_id, http_status=exc.http_status, attempts=exc.attempts)

    def _write(self, output_id: str, stem: str, ext: str, head: ResponseHead,
               chunks: Iterator[bytes]) -> LocalFile:
        fd, temp = _temp_file(self.directory, stem)
        written = 0
        try:
            self.progress.begin(clean_line(f"{stem}.{ext}"), head.content_length)
            try:
                with os.fdopen(fd, "wb") as fh:
                    for chunk in chunks:
                        fh.write(chunk)
                        written += len(chunk)
                        self.progress.advance(len(chunk))
                    fh.flush()
                    os.fsync(fh.fileno())
            finally:
                self.progress.end()
            kept = self._already_saved(stem, ext, written)
            if kept is not None:
                self.claimed.add(kept.name)
                return self._kept(output_id, kept, written)
            final = self._place(temp, stem, ext)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        self.claimed.add(final.name)
        return self._saved(output_id, final, written)

"""Generated outputs are real, valid files: PNG, WAV, animated GIF; served with their types."""

from __future__ import annotations

import io
import struct
import time
import wave
import zlib
from typing import Any

import httpx
import pytest

from flora_cli.sandbox import media
from flora_cli.sandbox.server import RunningSandbox


def parse_png(data: bytes) -> tuple[int, int, bytes]:
    """Check signature, chunk CRCs and the pixel data size; return (width, height, raw rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + payload) & 0xFFFFFFFF == crc, kind
        chunks.append((kind, payload))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == height * (1 + 3 * width)
    return width, height, raw


def lzw_decode(data: bytes, min_code_size: int) -> bytes:
    """A plain GIF LZW decoder, independent of the encoder under test."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    width = min_code_size + 1
    table: list[bytes] = [bytes((i,)) for i in range(clear)] + [b"", b""]
    out = bytearray()
    previous: bytes | None = None
    bits = int.from_bytes(data, "little")
    pos, total = 0, len(data) * 8
    while pos + width <= total:
        code = (bits >> pos) & ((1 << width) - 1)
        pos += width
        if code == clear:
            table = table[: clear + 2]
            width, previous = min_code_size + 1, None
            continue
        if code == end:
            return bytes(out)
        if code < len(table):
            entry = table[code]
            if previous is not None:
                table.append(previous + entry[:1])
        else:
            assert previous is not None and code == len(table), "corrupt LZW stream"
            entry = previous + previous[:1]
            table.append(entry)
        out += entry
        previous = entry
        if len(table) == (1 << width) and width < 12:
            width += 1
    raise AssertionError("no end-of-information code")


def parse_gif(data: bytes) -> list[bytes]:
    """Check the GIF89a structure and return every frame's decoded pixel indices."""
    assert data[:6] == b"GIF89a" and data[-1:] == b"\x3b"
    width, height, packed = struct.unpack("<HHB", data[6:11])
    assert packed & 0x80
    pos = 13 + 3 * (2 << (packed & 7))
    frames: list[bytes] = []
    while data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: skip its sub-blocks
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        else:
            assert data[pos] == 0x2C
            _, _, fw, fh, fpacked = struct.unpack("<HHHHB", data[pos + 1 : pos + 10])
            assert (fw, fh) == (width, height) and not fpacked & 0x80
            min_code = data[pos + 10]
            pos += 11
            blocks = bytearray()
            while data[pos]:
                blocks += data[pos + 1 : pos + 1 + data[pos]]
                pos += data[pos] + 1
            pos += 1
            pixels = lzw_decode(bytes(blocks), min_code)
            assert len(pixels) == width * height
            frames.append(pixels)
    return frames


def test_png_is_valid_and_depends_on_prompt() -> None:
    a, b = media.png_image("a mug"), media.png_image("a cat")
    assert parse_png(a)[:2] == (64, 64) and parse_png(b)[:2] == (64, 64)
    assert a != b and a == media.png_image("a mug")


def test_wav_is_a_one_second_tone() -> None:
    with wave.open(io.BytesIO(media.wav_audio("a jingle"))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16_000)
        assert w.getnframes() == 16_000
        frames = w.readframes(w.getnframes())
    assert max(frames) > 0


@pytest.mark.parametrize("prompt", ["a wave", "", "x" * 500])
def test_gif_is_animated_and_decodes(prompt: str) -> None:
    frames = parse_gif(media.gif_animation(prompt))
    assert len(frames) == media.GIF_FRAMES and len(set(frames)) == media.GIF_FRAMES


def test_lzw_round_trip_on_awkward_inputs() -> None:
    awkward = bytes((i * 7919) % 256 for i in range(9000))
    for pixels in (bytes(5000), bytes(range(256)) * 40, awkward):
        assert lzw_decode(media._lzw_encode(pixels, 8), 8) == pixels


def _complete(sandbox: RunningSandbox, c: httpx.Client, type_: str) -> dict[str, Any]:
    created = c.post(
        "/generate",
        json={"type": type_, "prompt": f"a {type_}", "workspace_id": sandbox.workspace_id,
              "project_id": sandbox.project_id},
    ).json()
    deadline = time.monotonic() + 5
    while True:
        run: dict[str, Any] = c.get(f"/runs/{created['run_id']}").json()
        if run["status"] == "completed" or time.monotonic() > deadline:
            assert run["status"] == "completed"
            return run
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("type_", "content_type", "output_type"),
    [("image", "image/png", "imageUrl"), ("audio", "audio/wav", "audioUrl"),
     ("video", "image/gif", "videoUrl")],
)
def test_outputs_are_served_with_type_and_length(
    sandbox: RunningSandbox, type_: str, content_type: str, output_type: str
) -> None:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as c:
        run = _complete(sandbox, c, type_)
        (output,) = run["outputs"]
        assert output["type"] == output_type
        assert output["url"].startswith(sandbox.base_url + "/files/")
    response = httpx.get(output["url"])  # public, like a CDN URL: no key needed
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert int(response.headers["content-length"]) == len(response.content)
    if type_ == "image":
        parse_png(response.content)
    elif type_ == "audio":
        with wave.open(io.BytesIO(response.content)) as w:
            assert w.getnframes() > 0
    else:
        assert len(parse_gif(response.content)) > 1


def test_output_file_404_before_completion_and_for_unknown(
    make_sandbox: Any,
) -> None:
    box = make_sandbox(speed=0.5)
    headers = {"Authorization": f"Bearer {box.api_key}"}
    with httpx.Client(base_url=box.base_url, headers=headers) as c:
        run_id = c.post("/generate", json={"type": "image", "prompt": "x",
                                           "workspace_id": box.workspace_id,
                                           "project_id": box.project_id}).json()["run_id"]
        assert c.get(f"/files/{run_id}/output_1.png").status_code == 404
        assert c.get(f"/files/{run_id}/output_9.png").status_code == 404
        assert c.get("/files/run_nope/output_1.png").status_code == 404
        assert c.get("/files/nope/output_1.png").status_code == 400

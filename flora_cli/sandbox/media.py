"""Real output files made with the standard library: PNG, WAV, animated GIF and text.

Every generator is deterministic: the same prompt gives the same bytes (colours, tone and
motion are derived from a SHA-256 of the prompt), so a user's CI can compare downloads.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
import zlib
from array import array
from dataclasses import dataclass
from functools import lru_cache

from flora_cli.sandbox.models import MediaType

SIZE = 64  # pixels, for images and the frames of the video
GIF_FRAMES = 12
GIF_DELAY_CS = 8  # centiseconds per frame
WAV_RATE = 16_000  # Hz
WAV_SECONDS = 1.0


@dataclass(frozen=True)
class MediaFile:
    """One generated file: its bytes, content type and file extension (without the dot)."""

    data: bytes
    content_type: str
    extension: str


#: The extension, content type and output `type` of each media type's files.
OUTPUT_KIND: dict[str, tuple[str, str, str]] = {
    "image": ("png", "image/png", "imageUrl"),
    "video": ("gif", "image/gif", "videoUrl"),
    "audio": ("wav", "audio/wav", "audioUrl"),
    "text": ("txt", "text/plain; charset=utf-8", "text"),
}


def _digest(prompt: str, index: int) -> bytes:
    return hashlib.sha256(f"{index}:{prompt}".encode()).digest()


def _colours(digest: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


# --------------------------------------------------------------------------- PNG


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_image(prompt: str, index: int = 0, size: int = SIZE) -> bytes:
    """A `size`×`size` RGB PNG: a diagonal gradient between two colours taken from the prompt."""
    (r0, g0, b0), (r1, g1, b1) = _colours(_digest(prompt, index))
    rows = bytearray()
    span = max(1, 2 * (size - 1))
    for y in range(size):
        rows.append(0)  # filter type: none
        for x in range(size):
            t = (x + y) / span
            rows += bytes(
                (
                    round(r0 + (r1 - r0) * t),
                    round(g0 + (g1 - g0) * t),
                    round(b0 + (b1 - b0) * t),
                )
            )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- WAV


def wav_audio(prompt: str, index: int = 0, seconds: float = WAV_SECONDS) -> bytes:
    """A mono 16-bit PCM WAV: a sine tone (220-880 Hz, from the prompt) with a short fade."""
    digest = _digest(prompt, index)
    frequency = 220.0 + (int.from_bytes(digest[:2], "big") % 661)
    frames = int(WAV_RATE * seconds)
    fade = max(1, WAV_RATE // 50)  # 20 ms
    samples = array("h")
    step = 2.0 * math.pi * frequency / WAV_RATE
    for n in range(frames):
        envelope = min(1.0, n / fade, (frames - 1 - n) / fade)
        samples.append(int(12_000 * envelope * math.sin(step * n)))
    if samples.itemsize != 2:  # pragma: no cover - 'h' is 2 bytes on every CPython platform
        raise RuntimeError("array('h') is not 16-bit on this platform")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(WAV_RATE)
        pcm = samples.tobytes() if _little_endian() else _byteswapped(samples)
        out.writeframes(pcm)
    return buffer.getvalue()


def _little_endian() -> bool:
    return array("h", [1]).tobytes() == b"\x01\x00"


def _byteswapped(samples: array[int]) -> bytes:  # pragma: no cover - big-endian hosts only
    copy = array("h", samples)
    copy.byteswap()
    return copy.tobytes()


# --------------------------------------------------------------------------- GIF


def _lzw_encode(indices: bytes, min_code_size: int) -> bytes:
    """GIF's variable-width LZW (codes packed least-significant bit first)."""
    clear = 1 << min_code_size
    end = clear + 1
    out = bytearray()
    bit_buffer = 0
    bit_count = 0

    def emit(code: int, width: int) -> None:
        nonlocal bit_buffer, bit_count
        bit_buffer |= code << bit_count
        bit_count += width
        while bit_count >= 8:
            out.append(bit_buffer & 0xFF)
            bit_buffer >>= 8
            bit_count -= 8

    def fresh_table() -> dict[bytes, int]:
        return {bytes((i,)): i for i in range(clear)}

    table = fresh_table()
    width = min_code_size + 1
    next_code = end + 1
    emit(clear, width)
    prefix = b""
    for value in indices:
        candidate = prefix + bytes((value,))
        if candidate in table:
            prefix = candidate
            continue
        emit(table[prefix], width)
        if next_code < 4096:
            table[candidate] = next_code
            next_code += 1
            # The decoder lags one code behind: widen once the last added code needs it.
            if next_code > (1 << width) and width < 12:
                width += 1
        else:  # table full: start again
            emit(clear, width)
            table = fresh_table()
            width = min_code_size + 1
            next_code = end + 1
        prefix = bytes((value,))
    if prefix:
        emit(table[prefix], width)
    emit(end, width)
    if bit_count:
        out.append(bit_buffer & 0xFF)
    return bytes(out)


def _sub_blocks(data: bytes) -> bytes:
    blocks = bytearray()
    for start in range(0, len(data), 255):
        chunk = data[start : start + 255]
        blocks.append(len(chunk))
        blocks += chunk
    blocks.append(0)
    return bytes(blocks)


def gif_animation(prompt: str, index: int = 0, size: int = SIZE, frames: int = GIF_FRAMES) -> bytes:
    """An animated, looping GIF89a: a gradient that moves across `frames` frames."""
    (r0, g0, b0), (r1, g1, b1) = _colours(_digest(prompt, index))
    palette = bytearray()
    for i in range(256):
        t = i / 255
        palette += bytes(
            (round(r0 + (r1 - r0) * t), round(g0 + (g1 - g0) * t), round(b0 + (b1 - b0) * t))
        )
    gif = bytearray(b"GIF89a")
    gif += struct.pack("<HHBBB", size, size, 0xF7, 0, 0)  # global table of 256 colours
    gif += palette
    # NETSCAPE2.0 application extension: loop forever.
    gif += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"
    for frame in range(frames):
        shift = frame * 256 // frames
        pixels = bytes(
            ((x + y) * 255 // max(1, 2 * (size - 1)) + shift) % 256
            for y in range(size)
            for x in range(size)
        )
        # Graphic control extension: delay, dispose "do not dispose", no transparency.
        gif += b"\x21\xf9\x04\x04" + struct.pack("<H", GIF_DELAY_CS) + b"\x00\x00"
        gif += b"\x2c" + struct.pack("<HHHHB", 0, 0, size, size, 0)
        gif += b"\x08" + _sub_blocks(_lzw_encode(pixels, 8))
    gif += b"\x3b"
    return bytes(gif)


# --------------------------------------------------------------------------- text


def text_output(prompt: str, index: int = 0) -> str:
    """The sandbox's "generated" text: a deterministic short answer quoting the prompt."""
    tag = _digest(prompt, index).hex()[:8]
    return f"[sandbox text {tag}] A short piece written for the prompt: {prompt}"


@lru_cache(maxsize=64)
def render(media_type: MediaType, prompt: str, index: int) -> MediaFile:
    """The file of output number `index` (0-based) of a run of `media_type` for `prompt`."""
    extension, content_type, _ = OUTPUT_KIND[media_type]
    if media_type == "image":
        data = png_image(prompt, index)
    elif media_type == "video":
        data = gif_animation(prompt, index)
    elif media_type == "audio":
        data = wav_audio(prompt, index)
    else:
        data = text_output(prompt, index).encode("utf-8")
    return MediaFile(data=data, content_type=content_type, extension=extension)

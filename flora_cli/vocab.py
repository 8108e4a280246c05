"""The words flora-cli shares between its layers, defined once. Standard library only.

Media types and the model families people type instead of them, run statuses and the style
each is shown in, the rules for numbers of seconds, boolean environment variables, and the
command that resumes a wait. The CLI, the output layer, the client and the sandbox import these
names; none of them keeps its own copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# -- media types and model families -----------------------------------------------------

MEDIA_TYPES: tuple[str, ...] = ("image", "video", "audio", "text")

#: Model families and other names people type for a media type, and the media type they meant.
FAMILY_TO_TYPE: dict[str, str] = {
    **dict.fromkeys(
        ["t2i", "i2i", "txt2img", "img2img", "text-to-image", "image-to-image", "text2image",
         "img", "images", "picture", "photo"], "image"),
    **dict.fromkeys(
        ["t2v", "i2v", "v2v", "txt2vid", "img2vid", "text-to-video", "image-to-video",
         "video-to-video", "text2video", "vid", "videos", "movie"], "video"),
    **dict.fromkeys(
        ["tts", "t2a", "t2s", "a2a", "stt", "text-to-speech", "text-to-audio", "speech",
         "music", "sound", "sfx", "voice", "audios"], "audio"),
    **dict.fromkeys(
        ["t2t", "i2t", "llm", "chat", "text-to-text", "image-to-text", "texts", "txt",
         "completion"], "text"),
}


def family_media_type(value: str) -> str | None:
    """The media type a model family (`t2i`, `Text_To_Image`, …) stands for, else None."""
    key = value.strip().lower().replace("_", "-")
    return FAMILY_TO_TYPE.get(key) or FAMILY_TO_TYPE.get(key.replace("-", ""))


def closest(value: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The choice a typo most likely meant (`imag` → `image`), else None."""
    import difflib

    found = difflib.get_close_matches(value.strip().lower(), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# -- run statuses -----------------------------------------------------------------------

ACTIVE_STATUSES = frozenset({"pending", "running"})
TERMINAL_STATUSES = frozenset({"completed", "failed"})
RUN_STATUSES = ACTIVE_STATUSES | TERMINAL_STATUSES
#: The rich style of each status, in panels and in the progress line alike.
STATUS_STYLE: dict[str, str] = {
    "pending": "yellow", "running": "cyan", "completed": "green", "failed": "red",
}


# -- numbers ----------------------------------------------------------------------------


def parse_seconds(raw: str, *, minimum: float = 0.0, inclusive: bool = True) -> float:
    """A finite number of seconds, at least `minimum` (above it when not `inclusive`).

    Raises ValueError with a message that quotes the text as given (`'0'`, not `0.0`).
    """
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value > 1e9:
        raise ValueError(f"{raw!r} is not a finite number of seconds (at most 1e9)")
    if value < minimum or (value == minimum and not inclusive):
        bound = "at least" if inclusive else "more than"
        raise ValueError(f"must be {bound} {minimum:g} seconds (got {text!r})")
    return value


def parse_count(raw: str, *, minimum: int = 0) -> int:
    """A whole number, at least `minimum`; ValueError quoting the text as given."""
    text = raw.strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a whole number (got {text!r})") from None
    if value < minimum:
        raise ValueError(f"must be at least {minimum} (got {text!r})")
    return value


# -- environment ------------------------------------------------------------------------

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean environment variable: 1, true, yes or on, in any case, is on."""
    return env.get(name, "").strip().lower() in TRUE_WORDS


# -- resuming a wait --------------------------------------------------------------------


def resume_command(run_id: str, download: str | None = None) -> str:
    """The command that takes up a wait again: `flora runs wait RUN_ID [--download DIR]`."""
    import shlex

    cmd = f"flora runs wait {shlex.quote(run_id)}"
    if download is not None:
        cmd += f" --download {shlex.quote(download)}"
    return cmd


def new_idempotency_key() -> str:
    """A random UUID4 as text, without importing `uuid` (which loads `platform` at start-up,
    ~7 ms on every start command)."""
    import os

    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

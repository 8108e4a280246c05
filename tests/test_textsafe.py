"""Terminal safety: no control character survives `clean`; `dumps` stays JSON with C1 escaped."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from flora_cli.textsafe import clean, clean_line, dumps, is_clean

OSC8 = "\x1b]8;;http://evil.example/\x1b\\CLICK\x1b]8;;\x1b\\"


def test_escape_sequences_are_made_visible() -> None:
    for hostile in (OSC8, "\x1b]0;title\x1b\\", "\x1b[2J", "a\x9b31mb", "x\ry", "\x07"):
        out = clean(hostile)
        assert is_clean(out)
        assert "\x1b" not in out and "\x9b" not in out and "\r" not in out


def test_newline_and_tab_kept_by_clean_not_by_clean_line() -> None:
    assert clean("a\nb\tc") == "a\nb\tc"
    assert clean_line("a\nb\tc") == "a\\x0ab\\x09c"


@given(st.text())
def test_clean_leaves_no_control_characters(text: str) -> None:
    out = clean(text)
    assert all(ch in "\n\t" or not (ord(ch) < 32 or 127 <= ord(ch) <= 159) for ch in out)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_dumps_round_trips_and_has_no_raw_controls(doc: object) -> None:
    text = dumps(doc)
    assert json.loads(text) == doc
    assert not any(127 <= ord(ch) <= 159 or (ord(ch) < 32 and ch != "\n") for ch in text)
    assert "\n" not in dumps(doc, compact=True)


def test_dumps_refuses_nan() -> None:
    import pytest

    with pytest.raises(ValueError):
        dumps({"x": float("nan")})

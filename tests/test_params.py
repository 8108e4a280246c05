"""Property and table tests of the flag parsers (SPEC §3)."""

from __future__ import annotations

import io
import json
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flora_cli.cli.params import (
    ParamError,
    drop_one_newline,
    parse_idempotency_key,
    parse_key_value,
    parse_media_type,
    parse_model_id,
    parse_params_json,
    parse_prefixed_id,
    parse_prompt,
    read_source,
)
from flora_cli.vocab import FAMILY_TO_TYPE, MEDIA_TYPES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@given(st.sampled_from(MEDIA_TYPES), st.data())
def test_media_type_any_case(media: str, data: st.DataObject) -> None:
    mixed = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in media)
    assert parse_media_type(mixed) == media


@pytest.mark.parametrize(("family", "meant"), [
    ("t2i", "image"), ("I2I", "image"), ("text-to-image", "image"), ("t2v", "video"),
    ("i2v", "video"), ("tts", "audio"), ("text_to_speech", "audio"), ("llm", "text"),
])
def test_model_family_names_the_meant_type(family: str, meant: str) -> None:
    with pytest.raises(ParamError, match=f"did you mean '{meant}'"):
        parse_media_type(family)


def test_every_family_maps_to_a_media_type() -> None:
    assert set(FAMILY_TO_TYPE.values()) == set(MEDIA_TYPES)


@given(st.text(max_size=20).filter(lambda s: s.strip().lower() not in MEDIA_TYPES))
def test_media_type_rejects_everything_else(value: str) -> None:
    with pytest.raises(ParamError):
        parse_media_type(value)


@given(st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=30))
def test_prefixed_ids_accept_nonblank_suffix(suffix: str) -> None:
    assert parse_prefixed_id("prj_" + suffix, "prj_") == "prj_" + suffix
    assert parse_prefixed_id("ws_" + suffix, "ws_") == "ws_" + suffix


@given(st.text(max_size=30))
def test_prefixed_ids_match_the_spec_regex(value: str) -> None:
    import re

    ok = re.fullmatch(r"prj_\S+", value) is not None
    try:
        parse_prefixed_id(value, "prj_")
    except ParamError:
        assert not ok
    else:
        assert ok


@pytest.mark.parametrize("bad", ["proj_1", "prj_", "prj_ 1", "ws_1", "PRJ_1", "prj_a b"])
def test_prefixed_id_rejections(bad: str) -> None:
    with pytest.raises(ParamError):
        parse_prefixed_id(bad, "prj_")


@given(st.text(max_size=50))
def test_prompt_blank_rule(text: str) -> None:
    if text.strip():
        assert parse_prompt(text) == text
    else:
        with pytest.raises(ParamError):
            parse_prompt(text)


@given(st.text(max_size=50).filter(lambda s: not s.endswith("\r")))
def test_drop_one_newline_only_one(text: str) -> None:
    assert drop_one_newline(text + "\n") == text
    assert drop_one_newline(text + "\r\n") == text  # a Windows newline is one newline
    assert drop_one_newline(text + "\n\n") == text + "\n"
    assert drop_one_newline(text) == text or text.endswith("\n")


@given(st.text(max_size=50).filter(lambda s: not s.startswith(("@", "\\@")) and s != "-"))
def test_read_source_literal(text: str) -> None:
    if "\x00" in text:  # SPEC §6.1: a NUL byte is refused
        with pytest.raises(ParamError, match="NUL"):
            read_source(text)
    else:
        assert read_source(text) == (text, "argument")


def test_read_source_escape_stdin_and_file(tmp_path: Path) -> None:
    assert read_source("\\@handle") == ("@handle", "argument")
    assert read_source("-", stdin_reader=io.StringIO("from stdin\n\n")) == ("from stdin\n",
                                                                            "stdin")
    f = tmp_path / "p.txt"
    f.write_text("line one\nline two\n", encoding="utf-8")
    assert read_source(f"@{f}")[0] == "line one\nline two"
    with pytest.raises(ParamError, match="file not found"):
        read_source(f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(ParamError, match="directory"):
        read_source(f"@{tmp_path}")
    with pytest.raises(ParamError):
        read_source("@")
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ParamError, match="UTF-8"):
        read_source(f"@{tmp_path / 'bin'}")


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_params_json_roundtrip(obj: dict[str, object]) -> None:
    assert parse_params_json(json.dumps(obj)) == obj


@given(json_values.filter(lambda v: not isinstance(v, dict)))
def test_params_json_rejects_non_objects(value: object) -> None:
    with pytest.raises(ParamError, match="JSON object"):
        parse_params_json(json.dumps(value))


@given(st.text(max_size=20).filter(lambda s: _not_json(s)))
def test_params_json_rejects_invalid_json(text: str) -> None:
    with pytest.raises(ParamError):
        parse_params_json(text)


def _not_json(s: str) -> bool:
    try:
        json.loads(s)
    except ValueError:
        return True
    return False


@given(st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=10), json_values)
def test_key_value_json_values(key: str, value: object) -> None:
    assert parse_key_value(f"{key}={json.dumps(value)}") == (key, value)


@given(st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=10),
       st.text(max_size=20).filter(_not_json).filter(lambda s: "\x00" not in s))
def test_key_value_string_fallback(key: str, raw: str) -> None:
    assert parse_key_value(f"{key}={raw}") == (key, raw)


@pytest.mark.parametrize("bad", ["novalue", "=1", " =1", ""])
def test_key_value_rejections(bad: str) -> None:
    with pytest.raises(ParamError):
        parse_key_value(bad)


def test_key_value_splits_at_first_equals() -> None:
    assert parse_key_value("expr=a=b") == ("expr", "a=b")


@given(st.text(max_size=30))
def test_model_id_whitespace_rule(value: str) -> None:
    bad = not value or any(c.isspace() for c in value) or "\x00" in value
    if bad:
        with pytest.raises(ParamError):
            parse_model_id(value)
    else:
        assert parse_model_id(value) == value


@given(st.text(max_size=300))
def test_idempotency_key_rule(value: str) -> None:
    ok = 1 <= len(value) <= 255 and all(0x21 <= ord(c) <= 0x7E for c in value)
    try:
        parse_idempotency_key(value)
    except ParamError:
        assert not ok
    else:
        assert ok

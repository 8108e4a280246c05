"""SPEC §2 and §6.1 "Local input is checked as strictly as network input": invalid UTF-8 in argv,
stdin or files, a NUL byte, NaN/Infinity in params, JSON deeper than 200, a prompt over 1 MiB
(streams such as /dev/zero included), --timeout inf, bad base URLs and keys: exit 2 naming the
flag or the source, before anything is sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.helpers import START, flora, flora_process
from tests.hostile.rawserver import SECRET, raw_server

BASE = "http://127.0.0.1:9/api/v1"  # nothing listens: exit 2 proves nothing was sent


def args(*more: str, key: str = SECRET, base: str = BASE) -> list[str]:
    return ["--api-key", key, "--base-url", base, *START, "--json", *more]


@pytest.mark.parametrize(("extra", "names"), [
    (["--param", "seed=NaN"], "seed"),
    (["--param", "seed=Infinity"], "seed"),
    (["--param", "seed=-Infinity"], "seed"),
    (["--param", "seed=1e999"], "seed"),
    (["--params", '{"seed": NaN}'], "--params"),
    (["--params", "[" * 300 + "]" * 300], "--params"),
    (["--param", "deep=" + "[" * 300 + "]" * 300], "deep"),
    (["--timeout", "inf"], "--timeout"),
    (["--timeout", "nan"], "--timeout"),
    (["--timeout", "1e300"], "--timeout"),
    (["--wait", "--wait-timeout", "inf"], "--wait-timeout"),
    (["--max-download-size", "lots", "--download", "x"], "--max-download-size"),
])
def test_bad_local_values_are_usage_errors(extra: list[str], names: str) -> None:
    # before: --param seed=NaN was sent as invalid JSON; --timeout inf was exit 1
    out = flora(args(*extra))
    assert out.exit_code == 2, out.stderr
    assert names in out.stderr


def test_a_prompt_from_dev_zero_is_refused_quickly() -> None:
    # before: read /dev/zero until memory ran out (exit 1)
    out = flora(args("--prompt", "@/dev/zero"))
    assert out.exit_code == 2
    assert "1 MiB" in out.stderr and "--prompt" in out.stderr
    assert out.seconds < 10


@pytest.mark.parametrize(("content", "why"), [
    (b"caf\xe9", "UTF-8"), (b"a\x00b", "NUL"), (b"x" * (1024 * 1024 + 1), "1 MiB")])
def test_prompt_files_are_checked(content: bytes, why: str, tmp_path: Path) -> None:
    f = tmp_path / "prompt.txt"
    f.write_bytes(content)
    out = flora(args("--prompt", f"@{f}"))
    assert out.exit_code == 2 and why in out.stderr and "--prompt" in out.stderr


def test_invalid_utf8_on_stdin_is_a_usage_error() -> None:
    out = flora_process(args("--prompt", "-"), input=b"caf\xe9 mug\n")
    assert out.exit_code == 2
    assert "--prompt" in out.stderr and "UTF-8" in out.stderr


def test_invalid_utf8_in_argv_is_a_usage_error() -> None:
    # before: exit 1 (UnicodeEncodeError while sending)
    out = flora_process([*args()[:-1], "--model", os.fsdecode(b"t2i-\xff")])
    assert out.exit_code == 2
    assert "--model" in out.stderr and "UTF-8" in out.stderr


@pytest.mark.parametrize(("base", "why"), [
    ("http://user:hunter2@127.0.0.1:9/api/v1", "user name or password"),
    ("http://127.0.0.1:9/api/v1?x=1", "query"),
    ("http://127.0.0.1:9/api/v1#frag", "fragment"),
    ("http://127.0.0.1:9/api/v1\n", "control characters"),
    ("http://127.0.0.1:9/api\u001b[2J/v1", "control characters"),
    ("http://name.localhost:8080/api/v1", "non-loopback"),
])
def test_bad_base_urls_are_refused(base: str, why: str) -> None:
    # before: userinfo was printed and became Basic auth; *.localhost counted as loopback; a
    # newline was exit 1
    out = flora(args(base=base))
    assert out.exit_code == 2, out.stderr
    assert why in out.stderr
    assert "hunter2" not in out.stderr


@pytest.mark.parametrize(("key", "why"), [
    ("sk_test_abc\r\nX-Evil: 1", "control"),
    ("sk_test_ab c", "whitespace"),
    ("sk_test_abc\u001b", "control"),
    ("sk_test_abcé", "non-ASCII"),
])
def test_bad_keys_are_refused_naming_the_source(key: str, why: str) -> None:
    # before: CR/LF was a "network failure" after 3 attempts; non-ASCII was exit 1
    with raw_server({}) as srv:
        out = flora(args(key="x", base=srv.base_url)[2:], env={"FLORA_API_KEY": key})
        assert srv.requests == []
    assert out.exit_code == 2, out.stderr
    assert why in out.stderr and "FLORA_API_KEY" in out.stderr

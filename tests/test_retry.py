"""The retry policy as a table, plus properties of the delay parsers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flora_cli.api.retry import backoff, parse_retry_after, retry_delay, should_retry

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (408, {}, True), (429, {}, True), (500, {}, True), (502, {}, True), (503, {}, True),
        (504, {}, True), (400, {}, False), (401, {}, False), (402, {}, False),
        (403, {}, False), (404, {}, False), (409, {}, False), (422, {}, False),
        (501, {}, False), (505, {}, False),
        (409, {"x-should-retry": "true"}, True), (400, {"x-should-retry": "TRUE"}, True),
        (503, {"x-should-retry": "false"}, False), (429, {"x-should-retry": "false"}, False),
        (503, {"x-should-retry": "maybe"}, True),
    ],
)
def test_should_retry_table(status: int, headers: dict[str, str], expected: bool) -> None:
    assert should_retry(status, headers) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "nope", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "-5", "retry-after": "2"}, 2.0),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": " 1.25 "}, 1.25),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "garbage"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"retry-after": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
    ],
)
def test_parse_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    got = parse_retry_after(headers, NOW)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(("n", "low", "high"), [(0, 0.375, 0.5), (1, 0.75, 1.0), (2, 1.5, 2.0),
                                                 (3, 3.0, 4.0), (4, 6.0, 8.0), (10, 6.0, 8.0)])
def test_backoff_bounds(n: int, low: float, high: float) -> None:
    assert backoff(n, lambda: 0.0) == pytest.approx(high)
    assert backoff(n, lambda: 1.0) == pytest.approx(low)


def test_retry_delay_prefers_server() -> None:
    assert retry_delay(0, {"retry-after": "4"}, now=NOW) == (4.0, True)
    delay, asked = retry_delay(1, {}, rand=lambda: 0.0)
    assert (delay, asked) == (1.0, False)


@given(st.text(max_size=40), st.text(max_size=40))
def test_parse_retry_after_never_raises_and_is_non_negative(ms: str, sec: str) -> None:
    got = parse_retry_after({"retry-after-ms": ms, "retry-after": sec}, NOW)
    assert got is None or got >= 0


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_retry_after_seconds_roundtrip(seconds: float) -> None:
    assert parse_retry_after({"retry-after": repr(seconds)}, NOW) == pytest.approx(seconds)


@given(st.integers(min_value=0, max_value=100), st.floats(min_value=0, max_value=1))
def test_backoff_within_cap(n: int, r: float) -> None:
    delay = backoff(n, lambda: r)
    assert 0.375 <= delay <= 8.0

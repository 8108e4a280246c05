"""Property: whatever a server answers — any status, any headers, any body — the client raises
a FloraError with an exit code from the table or returns plain JSON, and the CLI never prints a
traceback, exits with a code from the table, and leaves stdout empty or valid JSON."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flora_cli.api import errors
from flora_cli.api.client import FloraClient
from flora_cli.textsafe import dumps
from tests.hostile.helpers import flora, start
from tests.hostile.rawserver import SECRET, gzip_bytes, head, raw_server

EXIT_CODES = {code for code, _ in errors.EXIT_STATUS_TABLE}
HEADER_NAMES = st.sampled_from([
    "retry-after", "retry-after-ms", "x-should-retry", "content-encoding", "content-type",
    "request-id", "idempotent-replayed", "location", "x-other"])
HEADER_VALUES = st.one_of(
    st.sampled_from(["1", "0", "true", "false", "gzip", "deflate", "br", "application/json",
                     "-5", "nan", "1e400", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
                     "Z:/../x", "file:///x"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
)
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSONISH.map(lambda v: repr(v).encode()),
    st.builds(lambda run_id, extra: dumps({"run_id": run_id, **extra}).encode(),
              st.text(max_size=12), st.dictionaries(st.text(max_size=6), st.integers(),
                                                     max_size=3)),
    st.just(b'{"run_id": "run_1", "x": NaN}'),
    st.just(b"[" * 500),
)


@st.composite
def answers(draw: Any) -> tuple[int, dict[str, str], bytes, bool]:
    status = draw(st.one_of(st.sampled_from([200, 201, 202, 204, 301, 400, 401, 402, 403, 404,
                                             408, 409, 422, 429, 500, 503, 504]),
                            st.integers(100, 999)))
    headers = draw(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4))
    body = draw(BODIES)
    gzipped = draw(st.booleans())
    return status, headers, body, gzipped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_the_client_returns_plain_json_or_a_flora_error(answer: Any) -> None:
    status, headers, body, gzipped = answer
    if gzipped:
        body, headers = gzip_bytes(body), {**headers, "content-encoding": "gzip"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    client = FloraClient(api_key=SECRET, base_url="https://api.example.test/api/v1",
                         transport=httpx.MockTransport(handler), sleep=lambda s: None)
    try:
        response = client.request("POST", "/generate", body={"a": 1}, idempotency_key="k")
    except errors.FloraError as exc:
        assert exc.exit_code in EXIT_CODES
        assert SECRET not in exc.message
    else:
        assert 200 <= response.status < 300
        dumps(response.data)  # plain JSON: no NaN, nothing unencodable
    finally:
        client.close()


class Scripted:
    """One raw server for all examples; the answer is swapped per example."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b"")
        self.lock = threading.Lock()

    def handler(self, conn: Any, req: Any) -> None:
        status, headers, body = self.answer
        head(conn, status, {**headers, "content-length": str(len(body))})
        conn.sendall(body)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_the_cli_never_breaks_its_promises(answer: Any) -> None:
    status, headers, body, gzipped = answer
    if gzipped:
        body, headers = gzip_bytes(body), {**headers, "content-encoding": "gzip"}
    headers.pop("retry-after", None) if headers.get("retry-after", "").strip() not in (
        "", "0", "1") else None
    headers.pop("retry-after-ms", None)
    script = Scripted()
    script.answer = (status, headers, body)
    with raw_server({"/api/v1/generate": script.handler}) as srv:
        # flora() asserts: no traceback, exit code from the table, stdout empty or JSON, the
        # key absent, no raw control character
        out = flora(start(srv, "--max-retries", "0", "--timeout", "5"))
    if out.exit_code == 0:
        assert 200 <= status < 300

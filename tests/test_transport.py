"""TLS is verified (and SSL_CERT_FILE honoured); proxies from the environment are honoured."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import SECRET, run
from tests.scripted_server import RUN_CREATED, Reply, scripted

START = ["-q", "runs", "start-generation", "--project-id", "prj_1", "--workspace-id", "ws_1",
         "--type", "image", "--prompt", "a mug", "--json", "--max-retries", "0"]


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_tls_is_verified_and_ssl_cert_file_honoured(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    with scripted(Reply(201, RUN_CREATED), tls=_context(cert, key)) as srv:
        assert srv.base_url.startswith("https://")
        refused = run(["--api-key", SECRET, "--base-url", srv.base_url, *START])
        trusted = run(["--api-key", SECRET, "--base-url", srv.base_url, *START],
                      env={"SSL_CERT_FILE": str(cert)})
    assert refused.exit_code == 9
    assert "CERTIFICATE_VERIFY_FAILED" in refused.error()["error"]["message"]
    assert trusted.exit_code == 0, trusted.stderr
    assert trusted.json() == RUN_CREATED
    assert len(srv.requests) == 1  # the unverified attempt sent nothing over HTTP


def test_http_proxy_from_environment_is_used() -> None:
    with scripted(Reply(201, RUN_CREATED)) as proxy:
        proxy_url = proxy.base_url.removesuffix("/api/v1")
        out = run(["--api-key", SECRET, "--base-url", "http://127.0.0.1:9/api/v1", *START],
                  env={"HTTP_PROXY": proxy_url})
    assert out.exit_code == 0, out.stderr
    # the proxy received the request in absolute form, for the API's URL
    assert proxy.requests[0].path == "http://127.0.0.1:9/api/v1/runs/generation"

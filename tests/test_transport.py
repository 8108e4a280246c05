"""TLS is verified (and SSL_CERT_FILE honoured); proxies from the environment are honoured."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
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


def test_loopback_is_never_proxied() -> None:
    """SPEC §2: HTTP_PROXY pointing elsewhere cannot carry a loopback request (and its key)
    off the machine: the API answers directly, the proxy sees nothing."""
    with scripted(Reply(201, RUN_CREATED)) as api, scripted(Reply(201, RUN_CREATED)) as proxy:
        proxy_url = proxy.base_url.removesuffix("/api/v1")
        out = run(["--api-key", SECRET, "--base-url", api.base_url, *START],
                  env={"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url,
                       "ALL_PROXY": proxy_url})
    assert out.exit_code == 0, out.stderr
    assert proxy.requests == []
    assert len(api.requests) == 1
    assert api.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_environment_proxies_are_honoured_for_other_hosts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from flora_cli.api.client import FloraClient

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    client = FloraClient(api_key=SECRET, base_url="https://api.example.test/api/v1")
    http = client.http_for("https://api.example.test/api/v1/runs/x")
    transport = http._transport_for_url(httpx.URL("https://api.example.test/api/v1/runs/x"))
    assert transport is not http._transport  # the proxy's transport
    loop = client.http_for("https://127.0.0.1:8443/api/v1/runs/x")
    assert loop._transport_for_url(httpx.URL("https://127.0.0.1:8443/x")) is loop._transport
    client.close()

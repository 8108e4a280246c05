"""flora_cli.lazymod: a deferred module runs its code on first attribute read, not before."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_deferred_module_runs_on_first_attribute_read_only() -> None:
    out = run("""
        import sys
        from flora_cli.lazymod import defer, is_deferred
        defer("certifi", "no_such_module_for_flora")
        import certifi            # an import statement alone does not run it
        import certifi as again   # nor a second one (Python 3.11 reads __spec__ here)
        assert is_deferred("certifi") and "certifi.core" not in sys.modules
        assert "no_such_module_for_flora" not in sys.modules
        try:
            import no_such_module_for_flora
        except ImportError:
            pass
        else:
            raise AssertionError("a missing module must still fail to import")
        path = certifi.where()    # the first read imports the real module
        assert "certifi.core" in sys.modules and not is_deferred("certifi")
        assert sys.modules["certifi"].where() == path
        print("ok")
    """)
    assert out == "ok"


def test_https_and_idn_hosts_still_work_through_httpx() -> None:
    # The httpx route's import defers certifi and idna; https contexts load the CA bundle and a
    # non-ASCII host is IDNA-encoded exactly as before.
    out = run("""
        import sys
        import flora_cli.api.viahttpx
        import httpx
        from flora_cli.lazymod import is_deferred
        assert is_deferred("certifi") and is_deferred("idna")
        ctx = httpx.create_ssl_context()
        assert ctx.cert_store_stats()["x509_ca"] > 0
        assert httpx.URL("https://bücher.example/").host == "bücher.example"
        assert httpx.URL("https://bücher.example/").raw_host == b"xn--bcher-kva.example"
        assert not is_deferred("certifi") and not is_deferred("idna")
        print("ok")
    """)
    assert out == "ok"


def test_async_httpx_still_works_with_deferred_anyio() -> None:
    out = run("""
        import asyncio
        import flora_cli.api.viahttpx
        import httpx
        from flora_cli.lazymod import is_deferred
        assert is_deferred("anyio")

        async def main():
            transport = httpx.MockTransport(lambda request: httpx.Response(204))
            async with httpx.AsyncClient(transport=transport) as client:
                return (await client.get("http://x.test/")).status_code
        assert asyncio.run(main()) == 204
        import httpcore
        async def pool():  # httpcore's own async pool takes an anyio lock
            async with httpcore.AsyncConnectionPool() as p:
                try:
                    await p.request("GET", "http://127.0.0.1:9/")
                except httpcore.ConnectError:
                    return "refused"
        assert asyncio.run(pool()) == "refused"
        assert not is_deferred("anyio")
        print("ok")
    """)
    assert out == "ok"

"""`flora sandbox serve`: run the local FLORA sandbox API.

Imports only click at import time; starlette, uvicorn and pydantic load inside the command.
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass, field

import click

from flora_cli import optspec as o
from flora_cli.api.errors import FloraError
from flora_cli.cli.options import opt, typed

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@click.group(name="sandbox")
def sandbox() -> None:
    """A faithful local FLORA API, for trying the CLI and for your own CI.

    See also the global --sandbox flag, which runs any one command against an embedded sandbox.
    """


@dataclass(frozen=True)
class ServeOptions:
    """The flags of `sandbox serve`."""

    host: str = field(metadata=opt(o.SERVE_HOST))
    port: int = field(metadata=opt(o.SERVE_PORT, type=click.IntRange(0, 65535)))
    speed: float = field(metadata=opt(
        o.SERVE_SPEED, type=click.FloatRange(min=0, min_open=True, max=1e9)))
    idempotency: str = field(metadata=opt(
        o.SERVE_IDEMPOTENCY, type=click.Choice(["spec", "replay"])))
    rate_limit: int | None = field(metadata=opt(o.SERVE_RATE_LIMIT, type=click.IntRange(min=1)))
    error_rate: float = field(metadata=opt(o.SERVE_ERROR_RATE, type=click.FloatRange(0, 1)))
    latency: float = field(metadata=opt(o.SERVE_LATENCY, type=click.FloatRange(0, 600_000)))
    drop_rate: float = field(metadata=opt(o.SERVE_DROP_RATE, type=click.FloatRange(0, 1)))
    seed: int | None = field(metadata=opt(o.SERVE_SEED, type=int))
    text_output: str = field(metadata=opt(
        o.SERVE_TEXT_OUTPUT, type=click.Choice(["inline", "url"])))
    url_file: str | None = field(metadata=opt(
        o.SERVE_URL_FILE, type=click.Path(dir_okay=False, writable=True)))


@sandbox.command(name="serve")
@typed(ServeOptions)  # every leaf accepts the global options (errors follow --format/--json)
def serve(ctx: click.Context, opts: ServeOptions) -> None:
    """Serve the sandbox API under /api/v1 until Ctrl-C.

    Any key that starts with sk_test_ is accepted. Seeded: workspace ws_sandbox (budget
    $1000) with project prj_sandbox and more, workspace ws_broke (no credits: 402), and
    models of each type (GET /models). A prompt containing [fail:CODE] makes the run fail
    with error_code CODE; the cost is refunded.

    Exit status: 0 when stopped by SIGTERM, 130 by Ctrl-C (SIGINT), 1 when it cannot listen.
    """
    from flora_cli.sandbox.config import SandboxConfig
    from flora_cli.sandbox.server import RunningSandbox, SandboxStartError, serve_forever

    config = SandboxConfig(
        speed=opts.speed,
        idempotency="replay" if opts.idempotency == "replay" else "spec",
        rate_limit=opts.rate_limit,
        error_rate=opts.error_rate,
        latency_ms=opts.latency,
        drop_rate=opts.drop_rate,
        seed=opts.seed,
        text_output="url" if opts.text_output == "url" else "inline",
    )
    host, port = opts.host, opts.port
    if opts.url_file is not None:
        _check_writable_dir(opts.url_file)

    def log(line: str) -> None:
        click.echo(line, err=True)

    def ready(running: RunningSandbox) -> None:
        # For scripts: the first line on stdout is the URL to connect to (so --port 0 works).
        if opts.url_file is not None:
            _write_atomically(opts.url_file, running.connect_url + "\n")
        click.echo(running.connect_url)
        sys.stdout.flush()
        _print_banner(running, config)

    if host not in _LOOPBACK_HOSTS:
        click.echo(
            f"warning: listening on {host}, not loopback: anyone who can reach it can use "
            "the sandbox (it accepts any sk_test_ key)",
            err=True,
        )
    try:
        stopped_by = serve_forever(config, host=host, port=port, log=log, on_ready=ready)
    except SandboxStartError as exc:
        raise FloraError(str(exc), code="listen_failed") from None
    except KeyboardInterrupt as exc:  # a signal before the server installed its handler
        from flora_cli.api.errors import Terminated

        stopped_by = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
    click.echo("sandbox stopped", err=True)
    if stopped_by == signal.SIGINT:
        ctx.exit(130)


def _check_writable_dir(path: str) -> None:
    """--url-file's folder must exist and be writable: checked before listening (exit 2)."""
    import os

    from flora_cli.api.errors import UsageError

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise UsageError(f"--url-file: the folder {directory} does not exist or is not "
                         "writable.")


def _write_atomically(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: a script polling for the
    file never reads half a URL."""
    import os
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".flora-url-", dir=directory)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise FloraError(f"--url-file: cannot write {path}: {exc.strerror or exc}",
                         code="url_file_failed") from None


def _print_banner(running: object, config: object) -> None:
    from flora_cli.sandbox.config import SandboxConfig
    from flora_cli.sandbox.seed import WORKSPACES
    from flora_cli.sandbox.server import RunningSandbox

    assert isinstance(running, RunningSandbox) and isinstance(config, SandboxConfig)
    budgets = {w.info.workspace_id: w.budget_usd for w in WORKSPACES}
    faults = []
    if config.error_rate:
        faults.append(f"error-rate {config.error_rate:g}")
    if config.latency_ms:
        faults.append(f"latency {config.latency_ms:g} ms")
    if config.drop_rate:
        faults.append(f"drop-rate {config.drop_rate:g}")
    url = running.connect_url
    lines = [
        f"FLORA sandbox listening on {running.base_url}",
        f"  API key:    {running.api_key}  (any sk_test_… key is accepted)",
        f"  workspace:  {running.workspace_id} (budget ${budgets[running.workspace_id]:,.2f}); "
        "ws_broke has no credits (402)",
        f"  project:    {running.project_id}",
        f"  speed x{config.speed:g}, idempotency {config.idempotency}, rate limit "
        + (f"{config.rate_limit}/min" if config.rate_limit else "off")
        + ", faults "
        + (", ".join(faults) if faults else "off")
        + (f", seed {config.seed}" if config.seed is not None else ""),
        "  fail a run on purpose: put [fail:safety_blocked] (any [a-z_]+ code) in the prompt",
        f"  export FLORA_BASE_URL={url} FLORA_API_KEY={running.api_key} "
        f"FLORA_WORKSPACE_ID={running.workspace_id} FLORA_PROJECT_ID={running.project_id}",
        "Press Ctrl-C to stop.",
    ]
    click.echo("\n".join(lines), err=True)

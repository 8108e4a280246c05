"""`flora sandbox serve`: run the local FLORA sandbox API (SPEC §8).

Imports only click at import time; starlette, uvicorn and pydantic load inside the command.
"""

from __future__ import annotations

import signal

import click

from flora_cli.cli.options import global_options

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@click.group(name="sandbox")
def sandbox() -> None:
    """A faithful local FLORA API, for trying the CLI and for your own CI.

    See also the global --sandbox flag, which runs any one command against an embedded sandbox.
    """


@sandbox.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=4010,
    show_default=True,
    help="TCP port; 0 picks a free one (printed on start).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True, max=1e9),
    default=1.0,
    show_default=True,
    envvar="FLORA_SANDBOX_SPEED",
    show_envvar=True,
    help="Runs take the model's estimated_seconds divided by SPEED.",
)
@click.option(
    "--idempotency",
    type=click.Choice(["spec", "replay"]),
    default="spec",
    show_default=True,
    help="spec: a reused Idempotency-Key is 409 idempotency_duplicate. replay: the original "
    "response again (idempotent-replayed: true); a different body is 422 idempotency_conflict.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Requests per minute per workspace (creates and project listings); 429 rate_limited "
    "with retry-after beyond it. Default: no limit.",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="P",
    help="Probability of a random 500/502/503 (before the request does anything).",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0, max=600_000),
    default=0.0,
    show_default=True,
    metavar="MS",
    help="Milliseconds added to every response.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="P",
    help="Probability that a successful create (the run exists) closes the connection "
    "without a response.",
)
@click.option("--seed", type=int, default=None, help="Seed the fault decisions and the IDs.")
@click.option(
    "--text-output",
    type=click.Choice(["inline", "url"]),
    default="inline",
    show_default=True,
    help="inline: a text output's url holds the text itself (as the real API does). url: a "
    "link to a .txt file (matches the schema's format: uri).",
)
@global_options  # every leaf accepts the global options (errors follow --format/--json)
def serve(
    host: str,
    port: int,
    speed: float,
    idempotency: str,
    rate_limit: int | None,
    error_rate: float,
    latency: float,
    drop_rate: float,
    seed: int | None,
    text_output: str,
) -> None:
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
        speed=speed,
        idempotency="replay" if idempotency == "replay" else "spec",
        rate_limit=rate_limit,
        error_rate=error_rate,
        latency_ms=latency,
        drop_rate=drop_rate,
        seed=seed,
        text_output="url" if text_output == "url" else "inline",
    )

    def log(line: str) -> None:
        click.echo(line, err=True)

    def ready(running: RunningSandbox) -> None:
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
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:  # Ctrl-C before the server installed its handler
        stopped_by = signal.SIGINT
    click.echo("sandbox stopped", err=True)
    if stopped_by == signal.SIGINT:
        click.get_current_context().exit(130)


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
        f"  export FLORA_BASE_URL={running.base_url} FLORA_API_KEY={running.api_key} "
        f"FLORA_WORKSPACE_ID={running.workspace_id} FLORA_PROJECT_ID={running.project_id}",
        "Press Ctrl-C to stop.",
    ]
    click.echo("\n".join(lines), err=True)

"""What a command needs at run time: resolved settings, the API client, the embedded sandbox,
and what is known about the run so far.

Heavy modules (httpx via the client, the sandbox's starlette/uvicorn) load here, on first use
inside a command, never at import of the CLI.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import click

from flora_cli import settings as settings_mod
from flora_cli.api.errors import MissingApiKeyError, UsageError
from flora_cli.cli.options import given_flags
from flora_cli.settings import Settings
from flora_cli.vocab import resume_command

if TYPE_CHECKING:
    from pathlib import Path

    from flora_cli.api.client import FloraClient, RetryEvent

_APP_KEY = "flora.app"
#: The command path of the leaf being run (`flora runs wait`), for usage hints.
PATH_KEY = "flora.command_path"


class SandboxDefaults(NamedTuple):
    """IDs the embedded sandbox seeds, used as defaults under --sandbox (a NamedTuple: this
    class is created at every start, and a dataclass takes ~0.4 ms to create)."""

    workspace_id: str
    project_id: str


@dataclass
class App:
    """One invocation: its settings, and the facts the error handler words hints from."""

    ctx: click.Context
    settings: Settings
    sandbox: SandboxDefaults | None = None
    #: The run this invocation started or follows: once it is set, every error carries it.
    run_id: str | None = None
    #: --download DIR of the wait, for the resume command.
    download: Path | None = None
    #: The run id a `runs get` asked about (a 404 then means a wrong or foreign run id).
    asked_run_id: str | None = None
    idempotency_key: str | None = None
    _client: FloraClient | None = field(default=None, init=False)

    def run_started(self, run_id: str, download: Path | None = None) -> None:
        """A run exists from now on: errors carry its id and hints resume, never restart."""
        self.run_id = run_id
        self.download = download

    def looking_at_run(self, run_id: str) -> None:
        self.asked_run_id = run_id

    def resume_command(self) -> str | None:
        """The command that takes up the wait again, or None when it cannot work (the
        embedded --sandbox stops with this command, and its runs with it)."""
        if self.run_id is None or self.sandbox is not None:
            return None
        return resume_command(self.run_id,
                              str(self.download) if self.download is not None else None)

    def next_command(self, run_id: str) -> str:
        """What to run next about a run that is still going, as the pretty panels say it."""
        if self.sandbox is not None:
            return ("the embedded --sandbox stops with this command: add --wait to follow a "
                    "run, or use 'flora sandbox serve'")
        return resume_command(run_id)

    @property
    def files_note(self) -> str | None:
        """Said under output URLs that were not saved, when they stop working with the
        command: the embedded sandbox serves its files only while it runs."""
        if self.sandbox is None:
            return None
        return ("the embedded --sandbox stopped with this command, and these URLs with it: "
                "add --download DIR to keep the files")

    def trace(self, line: str) -> None:
        from flora_cli.redact import scrub
        from flora_cli.textsafe import clean_line

        sys.stderr.write(scrub(clean_line(line), self.settings.api_key) + "\n")

    def retry_notice(self, event: RetryEvent) -> None:
        """One stderr line before a retry wait over 2 s, and one per outage while polling;
        none with --quiet."""
        if self.settings.quiet:
            return
        if event.max_attempts is None:
            if not event.outage_start:
                return
            message = (f"{event.reason} while polling; still trying (backoff up to 30 s, "
                       "until --poll-patience passes without an answer)")
        else:
            message = event.describe()
        from flora_cli.output.notices import notice

        notice(self.settings, message)

    def require_key(self) -> str:
        if not self.settings.api_key:
            profile = self.settings.profile
            login = "flora auth login" + ("" if profile == "default" else f" --profile {profile}")
            raise MissingApiKeyError(
                "No API key: set the FLORA_API_KEY environment variable or pass --api-key, "
                f"or store one for profile {profile!r} with `{login}` "
                "(or use --sandbox to try the built-in sandbox)."
            )
        return self.settings.api_key

    def client(self, *, require_key: bool = True) -> FloraClient:
        if self._client is None:
            from flora_cli.api.client import FloraClient

            key = self.require_key() if require_key else (self.settings.api_key or "")
            self._client = FloraClient(
                api_key=key,
                base_url=self.settings.base_url,
                timeout=self.settings.timeout,
                max_retries=self.settings.max_retries,
                trace=self.trace if self.settings.debug else None,
                headers=self.settings.headers,
                on_retry=self.retry_notice,
            )
            self.ctx.call_on_close(self._client.close)
        return self._client


def get_app(ctx: click.Context, *, start_sandbox: bool = True, new_profile_ok: bool = False,
            read_stored_key: bool = True) -> App:
    """Resolve the settings once per invocation; start the embedded sandbox under --sandbox
    (unless the command only needs to know that it was asked for)."""
    root = ctx.find_root()
    app = root.meta.get(_APP_KEY)
    if isinstance(app, App):
        return app
    root.meta[PATH_KEY] = ctx.command_path
    resolved = settings_mod.resolve(given_flags(ctx), new_profile_ok=new_profile_ok,
                                    read_stored_key=read_stored_key)
    sandbox: SandboxDefaults | None = None
    if resolved.sandbox and start_sandbox:
        resolved, sandbox = _start_sandbox(root, resolved)
    app = App(ctx=root, settings=resolved, sandbox=sandbox)
    root.meta[_APP_KEY] = app
    return app


def current_app(ctx: click.Context | None) -> App | None:
    if ctx is None:
        return None
    app = ctx.find_root().meta.get(_APP_KEY)
    return app if isinstance(app, App) else None


def _start_sandbox(root: click.Context, resolved: Settings) -> tuple[Settings, SandboxDefaults]:
    import dataclasses

    from flora_cli.sandbox import defaults
    from flora_cli.sandbox.config import SandboxConfig
    from flora_cli.sandbox.server import serve_in_thread

    try:
        config = SandboxConfig.embedded()  # FLORA_SANDBOX_SPEED
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    running = root.with_resource(serve_in_thread(config))
    # The embedded sandbox is the API for this command: its key unless one was given.
    key = resolved.api_key if (resolved.api_key or "").startswith("sk_test_") else None
    resolved = dataclasses.replace(
        resolved, base_url=running.base_url, api_key=key or defaults.SANDBOX_API_KEY
    )
    return resolved, SandboxDefaults(defaults.SANDBOX_WORKSPACE_ID, defaults.SANDBOX_PROJECT_ID)

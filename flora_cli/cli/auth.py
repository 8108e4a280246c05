"""`flora auth login|status|logout|token`: one stored API key per profile.

Like `gh auth`: `login` checks the key with GET /workspaces before it stores anything, then
keeps it in the OS keyring (or in credentials.toml, mode 0600, where there is no keyring or with
--insecure-storage); `status` says, per profile, which key would be used, where it is stored
and whether it works; `token` prints the active key for other tools; `logout` removes it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from flora_cli import optspec as o
from flora_cli.api.errors import EXIT_AUTH, FloraError, InvalidResponseError, UsageError
from flora_cli.cli.context import App, get_app
from flora_cli.cli.options import global_options, opt, typed

SANDBOX_NOTE = (
    "--sandbox runs an embedded sandbox API with its own built-in sk_test_ key for the length of "
    "one command; profiles, stored keys and base URLs are not used. Run `flora auth status` "
    "without --sandbox to see them, or store a key for a sandbox you serve yourself: "
    "flora sandbox serve, then flora auth login --profile sandbox --base-url URL --with-key."
)
MAX_KEY_BYTES = 4096


@click.group()
def auth() -> None:
    """Log in once: store an API key per profile, check it, print it, remove it.
    """


def _notice(app: App, message: str) -> None:
    from flora_cli.output.notices import notice

    notice(app.settings, message)


def _read_key(with_key: bool) -> tuple[str, str]:
    """(key, where it came from): stdin with --with-key, else a hidden prompt on a terminal."""
    from flora_cli.settings import check_api_key

    if with_key:
        stream = getattr(sys.stdin, "buffer", None)
        data = (stream.read(MAX_KEY_BYTES + 1) if stream is not None
                else sys.stdin.read(MAX_KEY_BYTES + 1).encode())
        if len(data) > MAX_KEY_BYTES:
            raise UsageError("--with-key: stdin holds more than 4 KiB; it is not an API key")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("--with-key: stdin is not UTF-8 text") from None
        source = "stdin (--with-key)"
    elif sys.stdin.isatty():
        text = click.prompt("Paste your FLORA API key (input is hidden)", hide_input=True,
                            err=True, default="", show_default=False)
        source = "the prompt"
    else:
        raise UsageError("stdin is not a terminal: pass --with-key to read the key from stdin "
                         "(flora auth login --with-key < key.txt)")
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise UsageError(f"no API key was given on {source}")
    return check_api_key(text, source), source


def _workspaces(data: Any) -> list[dict[str, Any]]:
    items = data.get("workspaces") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(w, dict) for w in items):
        raise InvalidResponseError("GET /workspaces did not answer with a list of workspaces")
    return items


def _check_key(app: App, key: str, base_url: str) -> list[dict[str, Any]]:
    """The workspaces the key can see (GET /workspaces); a refused key raises (exit 4)."""
    from flora_cli.api.client import FloraClient

    with FloraClient(api_key=key, base_url=base_url, timeout=app.settings.timeout,
                     max_retries=app.settings.max_retries, headers=app.settings.headers,
                     trace=app.trace if app.settings.debug else None) as client:
        return _workspaces(client.request("GET", "/workspaces").data)


@dataclass(frozen=True)
class LoginOptions:
    """The flags of `auth login`."""

    with_key: bool = field(metadata=opt(o.WITH_KEY, is_flag=True))
    insecure_storage: bool = field(metadata=opt(o.INSECURE_STORAGE, is_flag=True))


@auth.command("login")
@typed(LoginOptions)
def login(ctx: click.Context, opts: LoginOptions) -> None:
    """Check an API key and store it for a profile.

    On a terminal the key is read from a hidden prompt; --with-key reads it from stdin. The key
    is checked with GET /workspaces before anything is stored: a refused key (401) exits 4 and
    stores nothing. It goes to the OS keyring when one is usable, else to credentials.toml with
    mode 0600. A --base-url (or FLORA_BASE_URL) is saved in the profile; when the key sees
    exactly one workspace, it is offered as the profile's workspace_id.
    """
    from flora_cli.config import credentials, keystore
    from flora_cli.config.edit import ConfigEditor
    from flora_cli.config.keysource import mask
    from flora_cli.config.paths import config_paths
    from flora_cli.config.profiles import load_config
    from flora_cli.output.result import emit
    from flora_cli.settings import check_plain_http

    app = get_app(ctx, start_sandbox=False, new_profile_ok=True, read_stored_key=False)
    settings = app.settings
    if settings.sandbox:
        raise UsageError("the embedded --sandbox has its own key and needs no login. To store "
                         "a key for a sandbox you serve: flora sandbox serve, then flora auth "
                         "login --profile sandbox --base-url URL --with-key")
    with_key = opts.with_key
    key, source = _read_key(with_key)
    check_plain_http(settings.base_url, "the base URL", key, source)

    try:
        workspaces = _check_key(app, key, settings.base_url)
    except FloraError as exc:
        _notice(app, f"Nothing was stored: GET /workspaces at {settings.base_url} failed "
                     f"({exc.code}).")
        raise

    paths = config_paths()
    profile = load_config(paths.config).profile(settings.profile)
    chosen_ws = _offer_workspace(app, workspaces, profile.values.get("workspace_id"),
                                 interactive=not with_key and sys.stdin.isatty())

    # Store the key: the keyring when usable (and not --insecure-storage), else the file.
    store, where = "file", paths.credentials
    if not opts.insecure_storage:
        ok, why = keystore.usable()
        if ok:
            try:
                keystore.set_key(settings.profile, key)
                store, where = "keyring", f"keyring ({why})"
            except FloraError as exc:
                _notice(app, f"{exc.message}; storing the key in {paths.credentials} instead")
        else:
            _notice(app, f"{why}; storing the key in {paths.credentials} (mode 0600)")
    if store == "file":
        credentials.store_key(paths.credentials, settings.profile, key)
        if profile.key_store == "keyring":
            with contextlib.suppress(FloraError):
                keystore.delete_key(settings.profile)
    elif os.path.lexists(paths.credentials):
        credentials.delete_key(paths.credentials, settings.profile)

    editor = ConfigEditor(paths.config)
    editor.ensure_profile(settings.profile)
    editor.set(settings.profile, "key_store", store)
    if settings.sources.get("base_url") in ("flag", "env FLORA_BASE_URL"):
        editor.set(settings.profile, "base_url", settings.base_url)
    if chosen_ws is not None:
        editor.set(settings.profile, "workspace_id", chosen_ws)
    editor.save()

    if settings.api_key_source != "none":
        _notice(app, f"note: {settings.api_key_source} is set here and wins over the stored key")
    if settings.profile != "default" and settings.sources.get("profile") == "flag":
        _notice(app, f"Use it with --profile {settings.profile} or FLORA_PROFILE="
                     f"{settings.profile}, or make it the default: "
                     f"flora config set current_profile {settings.profile}")
    from flora_cli.output.profiles import render_login

    emit({
        "profile": settings.profile,
        "base_url": settings.base_url,
        "key": mask(key),
        "stored_in": store,
        "location": where,
        "workspaces": workspaces,
        "workspace_id": chosen_ws or profile.values.get("workspace_id"),
    }, settings, pretty=render_login)


def _offer_workspace(app: App, workspaces: list[dict[str, Any]], current: Any,
                     *, interactive: bool) -> str | None:
    """The single workspace the key sees, when the profile should take it as workspace_id."""
    from flora_cli.textsafe import clean_line

    if len(workspaces) != 1:
        if len(workspaces) > 1 and current is None:
            _notice(app, "The key sees several workspaces; choose one with: "
                         "flora config set workspace_id ws_…")
        return None
    ws_id = str(workspaces[0].get("workspace_id", ""))
    if not ws_id.startswith("ws_") or ws_id == current:
        return None
    name = clean_line(str(workspaces[0].get("name", "")))
    if interactive:
        question = f"Use {clean_line(ws_id)} ({name}) as this profile's workspace_id?"
        if not click.confirm(question, default=current is None, err=True):
            return None
    elif current is not None:
        return None
    return ws_id


@auth.command("status")
@global_options
@click.pass_context
def status(ctx: click.Context, /) -> None:
    """Show, per profile, the key (masked), where it is stored, which source wins now and
    whether it works (GET /workspaces).

    With --profile (or FLORA_PROFILE) only that profile is shown. Exit 4 when the active
    profile has no working key.
    """
    from flora_cli.config.paths import config_paths
    from flora_cli.config.profiles import load_config
    from flora_cli.output.profiles import render_status
    from flora_cli.output.result import emit

    app = get_app(ctx, start_sandbox=False)
    settings = app.settings
    if settings.sandbox:
        emit({"sandbox": True, "note": SANDBOX_NOTE}, settings,
             pretty=lambda console, doc: console.print(doc["note"], markup=False,
                                                       highlight=False))
        return
    paths = config_paths()
    config = load_config(paths.config)
    names = [settings.profile]
    if settings.sources.get("profile") not in ("flag", "env FLORA_PROFILE"):
        names += [n for n in sorted(config.profiles) if n != settings.profile]
    rows = [_status_row(app, config.profile(name), paths, active=name == settings.profile)
            for name in names]
    emit({"active_profile": settings.profile, "key_source": settings.api_key_source,
          "config_file": paths.config, "profiles": rows}, settings, pretty=render_status)
    active = rows[0]
    if not active["works"]:
        error = active.get("error") or {}
        if active["key"] is None:
            app.require_key()  # raises: no key (exit 4)
        raise FloraError(
            f"the key for profile {settings.profile!r} ({active['key_source']}) does not work: "
            f"{error.get('message', 'refused')}",
            code=str(error.get("code", "unauthorized")),
            exit_code=int(active.get("exit_code") or EXIT_AUTH),
        )


def _status_row(app: App, profile: Any, paths: Any, *, active: bool) -> dict[str, Any]:
    from flora_cli.config.keysource import FoundKey, mask, stored_key
    from flora_cli.optspec import DEFAULT_BASE_URL
    from flora_cli.settings import check_base_url

    settings = app.settings
    problems: list[str] = []
    stored = FoundKey(None, "none")
    try:
        stored = stored_key(profile, paths, problems.append)
    except FloraError as exc:
        problems.append(exc.message)
    if active:
        key, key_source, base_url = settings.api_key, settings.api_key_source, settings.base_url
    else:
        key, key_source = stored.key, stored.source
        base_url = str(profile.values.get("base_url") or DEFAULT_BASE_URL)
        try:
            base_url = check_base_url(base_url, "base_url", insecure_http=True)
        except FloraError as exc:
            problems.append(exc.message)
            key = None
    row: dict[str, Any] = {
        "profile": profile.name,
        "active": active,
        "key": mask(key) if key else None,
        "key_source": key_source,
        "stored_key": mask(stored.key) if stored.key else None,
        "stored_in": stored.store,
        "base_url": base_url,
        "works": False,
        "workspaces": None,
        "error": None,
        "notes": problems,
    }
    if key is None:
        row["error"] = {"code": "missing_api_key", "message": "no key"}
        row["exit_code"] = EXIT_AUTH
        return row
    try:
        row["workspaces"] = len(_check_key(app, key, base_url))
        row["works"] = True
    except FloraError as exc:
        from flora_cli.redact import scrub

        row["error"] = {"code": exc.code, "message": scrub(exc.message, key)}
        row["exit_code"] = exc.exit_code
    return row


@auth.command("logout")
@global_options
@click.pass_context
def logout(ctx: click.Context, /) -> None:
    """Remove the profile's stored key (keyring and credentials file); other settings stay.
    """
    from flora_cli.config import credentials, keystore
    from flora_cli.config.edit import ConfigEditor
    from flora_cli.config.paths import config_paths
    from flora_cli.config.profiles import load_config
    from flora_cli.output.result import emit

    app = get_app(ctx, start_sandbox=False, read_stored_key=False)
    settings = app.settings
    if settings.sandbox:
        raise UsageError("the embedded --sandbox has no stored key to remove")
    paths = config_paths()
    config = load_config(paths.config)
    profile = config.profile(settings.profile)
    removed: list[str] = []
    if profile.key_store == "keyring" and keystore.delete_key(settings.profile):
        removed.append("keyring")
    if credentials.delete_key(paths.credentials, settings.profile):
        removed.append(paths.credentials)
    if profile.key_store is not None:
        editor = ConfigEditor(paths.config)
        editor.unset(settings.profile, "key_store")
        editor.save()
    if removed:
        _notice(app, f"Logged out of profile {settings.profile!r}: key removed from "
                     f"{' and '.join(removed)}.")
    else:
        _notice(app, f"Profile {settings.profile!r} had no stored key.")
    if settings.api_key_source.startswith(("FLORA_", "--")):
        _notice(app, f"note: {settings.api_key_source.split(' ')[0]} still gives a key here")
    emit({"profile": settings.profile, "removed_from": removed}, settings,
         pretty=lambda console, doc: None)


@dataclass(frozen=True)
class TokenOptions:
    """The flags of `auth token`."""

    show: bool = field(metadata=opt(o.SHOW_KEY, is_flag=True))


@auth.command("token")
@typed(TokenOptions)
def token(ctx: click.Context, opts: TokenOptions) -> None:
    """Print the active API key, for piping into other tools.

    The key is whatever `flora` would use now (flag, environment or the profile's stored
    key). It goes to stdout only, and not to a terminal unless --show is given.
    """
    app = get_app(ctx, start_sandbox=False)
    if app.settings.sandbox:
        from flora_cli.sandbox.defaults import SANDBOX_API_KEY

        key = SANDBOX_API_KEY
    else:
        key = app.require_key()
    if sys.stdout.isatty() and not opts.show:
        raise UsageError("refusing to print the API key to a terminal; pipe it into another "
                         "command, or pass --show")
    sys.stdout.write(key + "\n")
    sys.stdout.flush()

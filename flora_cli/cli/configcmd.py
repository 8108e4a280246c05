"""`flora config list|get|set|unset|path`: the settings of each profile.

`list` and `get` show what a command would use now and where it came from (flag, env, profile,
default); `set` and `unset` edit `config.toml` in place, keeping comments and order, after
checking the value with the rule of the matching flag.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from flora_cli.api.errors import UsageError
from flora_cli.cli.context import App, get_app
from flora_cli.cli.options import given_flags, global_options

#: What `config get|set|unset` accept besides the profile settings.
_TOP_LEVEL = ("current_profile",)


@click.group("config")
def config() -> None:
    """Show and change settings per profile (config.toml).

    Every setting resolves flag > environment > profile > default. The profile is --profile,
    else FLORA_PROFILE, else the file's current_profile, else `default`.
    """


def _known(key: str, *, readable: tuple[str, ...] = ()) -> None:
    from flora_cli.config.profiles import SETTING_KEYS

    if key in SETTING_KEYS or key in _TOP_LEVEL or key in readable:
        return
    if key in ("api_key", "key", "token"):
        raise UsageError("keys are not settings: store one with `flora auth login`, print it "
                         "with `flora auth token`")
    import difflib

    close = difflib.get_close_matches(key, (*SETTING_KEYS, *_TOP_LEVEL), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown setting {key!r}{hint}; settings: "
                     f"{', '.join((*SETTING_KEYS, *_TOP_LEVEL))}")


def _rows(app: App) -> dict[str, dict[str, Any]]:
    from flora_cli.config.keysource import mask
    from flora_cli.config.profiles import SETTING_KEYS

    settings = app.settings
    rows: dict[str, dict[str, Any]] = {
        "profile": {"value": settings.profile, "source": settings.sources.get("profile")},
        "api_key": {"value": mask(settings.api_key) or None,
                    "source": settings.sources.get("api_key", "none")},
    }
    for key in SETTING_KEYS:
        rows[key] = {"value": settings.values.get(key), "source": settings.sources.get(key)}
    if settings.sandbox:
        from flora_cli.sandbox import defaults

        rows["base_url"] = {"value": "(the embedded sandbox, on loopback)", "source": "sandbox"}
        if settings.api_key is None or not settings.api_key.startswith("sk_test_"):
            rows["api_key"] = {"value": mask(defaults.SANDBOX_API_KEY), "source": "sandbox"}
        for key, seeded in (("workspace_id", defaults.SANDBOX_WORKSPACE_ID),
                            ("project_id", defaults.SANDBOX_PROJECT_ID)):
            if rows[key]["source"] == "default":
                rows[key] = {"value": seeded, "source": "sandbox"}
    return rows


@config.command("list")
@global_options
@click.pass_context
def list_settings(ctx: click.Context, /) -> None:
    """Every setting with its value and its source; the key masked (sk_live_…a1b2).
    """
    from flora_cli.output.profiles import render_settings
    from flora_cli.output.result import emit

    app = get_app(ctx, start_sandbox=False)
    emit(_rows(app), app.settings, pretty=render_settings)


def _say(flags: dict[str, Any], message: str) -> None:
    """One line for people on stderr (not under --quiet)."""
    if not flags.get("quiet"):
        from flora_cli.textsafe import clean

        sys.stderr.write(clean(message) + "\n")
        sys.stderr.flush()


def _explicit_format(app: App) -> bool:
    return app.settings.sources.get("format", "default") != "default"


@config.command("get")
@click.argument("key", metavar="KEY")
@global_options
@click.pass_context
def get_setting(ctx: click.Context, /, key: str) -> None:
    """Print the value a command would use now for one setting (plain text; nothing when it is
    unset). KEY may also be `profile` (the active one) or `api_key` (masked). With an explicit
    --json/--format: {key, value, source}.
    """
    _known(key, readable=("profile", "api_key"))
    from flora_cli.output.result import emit

    app = get_app(ctx, start_sandbox=False)
    if key == "current_profile":
        from flora_cli.config.paths import config_paths
        from flora_cli.config.profiles import load_config

        value: Any = load_config(config_paths().config).current_profile
        source = "config" if value is not None else "default"
    else:
        row = _rows(app)[key]
        value, source = row["value"], row["source"]
    if _explicit_format(app) or app.settings.query is not None:
        emit({"key": key, "value": value, "source": source}, app.settings)
        return
    if value is not None:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _editing_profile(ctx: click.Context) -> tuple[str, Any, Any]:
    """(profile name, ConfigFile, ConfigPaths) for set/unset: a bad value already in the file
    must not stop the command that fixes it, so the settings are not resolved here."""
    import os

    from flora_cli.config.paths import config_paths
    from flora_cli.config.profiles import load_config
    from flora_cli.settings import choose_profile

    paths = config_paths()
    cfg = load_config(paths.config)
    name, _ = choose_profile(given_flags(ctx), os.environ, cfg.current_profile, cfg.path)
    return name, cfg, paths


def _toml_value(key: str, checked: Any, raw: str) -> Any:
    if key in ("timeout", "poll_interval"):
        number = float(checked)
        return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() \
            else number
    return checked


@config.command("set")
@click.argument("key", metavar="KEY")
@click.argument("value", metavar="VALUE")
@global_options
@click.pass_context
def set_setting(ctx: click.Context, /, key: str, value: str) -> None:
    """Set a setting in the profile (created when new), checked like its flag (exit 2).

    KEY is one of base_url, workspace_id, project_id, model, format, timeout, max_retries,
    poll_interval, ledger, or current_profile (the profile used when none is named).
    """
    _known(key)
    from flora_cli.config.edit import ConfigEditor

    name, cfg, paths = _editing_profile(ctx)
    flags = given_flags(ctx)
    editor = ConfigEditor(paths.config)
    if key == "current_profile":
        from flora_cli.config.profiles import check_profile_name

        cfg.require(check_profile_name(value, "current_profile"), "config set current_profile")
        editor.set_current_profile(value)
        editor.save()
        _say(flags, f"current_profile = {value!r} in {paths.config}")
        return
    from flora_cli.settings import check_base_url, check_setting, env_flag

    checked = check_setting(key, value, key)
    if key == "base_url":
        import os

        insecure = bool(flags.get("insecure_http")) or env_flag(os.environ, "FLORA_INSECURE_HTTP")
        checked = check_base_url(value, key, insecure_http=insecure)
    stored = _toml_value(key, checked, value)
    editor.set(name, key, stored)
    editor.save()
    shown = str(stored).lower() if isinstance(stored, bool) else repr(stored)
    _say(flags, f"{key} = {shown} in [profiles.{name}] of {paths.config}")


@config.command("unset")
@click.argument("key", metavar="KEY")
@global_options
@click.pass_context
def unset_setting(ctx: click.Context, /, key: str) -> None:
    """Remove a setting from the profile; it falls back to the environment or the default.
    """
    _known(key)
    from flora_cli.config.edit import ConfigEditor

    name, _, paths = _editing_profile(ctx)
    flags = given_flags(ctx)
    import os

    if not os.path.lexists(paths.config):
        _say(flags, f"{key} is not set ({paths.config} does not exist)")
        return
    editor = ConfigEditor(paths.config)
    if key == "current_profile":
        had = "current_profile" in editor.doc
        editor.set_current_profile(None)
    else:
        had = editor.unset(name, key)
    if had:
        editor.save()
        where = paths.config if key == "current_profile" else f"[profiles.{name}] of {paths.config}"
        _say(flags, f"{key} removed from {where}")
    else:
        _say(flags, f"{key} was not set in profile {name!r}")


@config.command("path")
@global_options
@click.pass_context
def path(ctx: click.Context, /) -> None:
    """Print the config file and the credentials file, one per line (whether they exist or not).

    The dir is FLORA_CONFIG_DIR, else the platform's config dir ($XDG_CONFIG_HOME/flora or
    ~/.config/flora on Linux).
    """
    from flora_cli.config.paths import config_paths

    paths = config_paths()
    flags = given_flags(ctx)
    if flags.get("json") or flags.get("format") or flags.get("query"):
        from flora_cli.output.result import emit

        app = get_app(ctx, start_sandbox=False, read_stored_key=False)
        emit({"config_dir": paths.dir, "config": paths.config, "credentials": paths.credentials},
             app.settings)
        return
    sys.stdout.write(f"{paths.config}\n{paths.credentials}\n")
    sys.stdout.flush()

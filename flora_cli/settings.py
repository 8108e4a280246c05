"""One resolved settings object: flag > environment > profile > default. Standard library only.

Which variable backs each option and what its default is come from `optspec`, the same records
that `--help` and the man pages show. The profile layer (`flora_cli.config`) is read only when
its files exist: with the key in the environment and no config file, resolving costs one `stat`
more than it did without profiles, and loads no TOML parser, platformdirs or keyring.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flora_cli import optspec as o
from flora_cli.api.errors import UsageError
from flora_cli.optspec import DEFAULT_BASE_URL, FORMATS, OptionSpec
from flora_cli.vocab import TRUE_WORDS, env_flag, parse_count, parse_seconds


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one invocation (flag > environment > profile > default)."""

    api_key: str | None
    base_url: str
    timeout: float
    max_retries: int
    format: str  # resolved: never "auto"
    query: str | None
    raw_output: bool
    debug: bool
    quiet: bool
    no_color: bool
    sandbox: bool
    #: The active profile.
    profile: str = "default"
    #: Where the key came from (`--api-key`, `FLORA_API_KEY`, `profile work (keyring)`, …).
    api_key_source: str = "none"
    workspace_id: str | None = None
    project_id: str | None = None
    model: str | None = None
    poll_interval: float | None = None
    ledger: bool = True
    #: Extra request headers (`--header`, FLORA_CUSTOM_HEADERS), sent to the API origin only.
    headers: tuple[tuple[str, str], ...] = ()
    insecure_http: bool = False
    #: setting → `flag`, `env FLORA_…`, `profile NAME`, `default` (for `config list`).
    sources: Mapping[str, str] = field(default_factory=dict)
    #: setting → its value as given by the winning layer (`format` before `auto` is resolved).
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pretty(self) -> bool:
        return self.format == "pretty"


__all__ = ["FORMATS", "Settings", "check_api_key", "check_base_url", "check_plain_http",
           "check_setting", "choose_profile", "env_flag", "guess_format", "resolve"]


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def resolve_format(value: str | None, stdout_isatty: bool) -> str:
    fmt = (value or "auto").lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)} (got {value!r})")
    if fmt == "auto":
        return "pretty" if stdout_isatty else "json"
    return fmt


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost` exactly. Not `*.localhost`: resolving it takes a DNS
    lookup, which may answer with any address."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def check_api_key(key: str, source: str) -> str:
    """The one check every API key passes, wherever it came from: surrounding whitespace is
    dropped; whitespace inside, control characters or non-ASCII are a usage error naming
    `source` (such a key cannot be sent in a header; it is never retried)."""
    key = key.strip()
    problem = None
    if not key.isascii():
        problem = "non-ASCII characters"
    elif _has_control(key):
        problem = "control characters"
    elif any(c.isspace() for c in key):
        problem = "whitespace"
    if problem is not None:
        raise UsageError(f"the API key from {source} contains {problem}; check how it was "
                         "copied (a stray newline or quote?)", code="invalid_api_key")
    return key


def check_base_url(url: str, source: str, *, insecure_http: bool = False) -> str:
    """`https://`, or `http://` to a loopback host only, so a key never travels in clear text.

    No userinfo (it would be printed and turned into Basic auth), no query or fragment (they
    would be joined into the wrong path), no control characters or whitespace. With
    `insecure_http` a non-loopback `http://` URL passes here; `check_plain_http` then allows it
    only for an `sk_test_` key.
    """
    from flora_cli.textsafe import clean_line

    shown = clean_line(url)
    if _has_control(url) or any(c.isspace() for c in url):
        raise UsageError(f"{source} holds control characters or whitespace: {shown!r}")
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"{source} is not a valid URL ({exc}): {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{source} must be an http(s) URL such as {DEFAULT_BASE_URL} "
                         f"(got {shown!r})")
    if "@" in parts.netloc:
        raise UsageError(f"{source} must not hold a user name or password (user:pass@); "
                         "the key is sent as a bearer token")
    if parts.query or parts.fragment or url.rstrip("/").endswith(("?", "#")):
        raise UsageError(f"{source} must not hold a query (?…) or a fragment (#…): "
                         f"{shown!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname) and not insecure_http:
        raise UsageError(
            f"{source} uses plain http:// to a non-loopback host ({parts.hostname}); the API key "
            "would travel in clear text. Use https://, or http:// only to 127.0.0.1, ::1 or "
            "localhost (--insecure-http allows it for an sk_test_ key)."
        )
    return url.rstrip("/")


def is_plain_http_remote(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "http" and not is_loopback_host(parts.hostname or "")


def check_plain_http(base_url: str, url_source: str, api_key: str | None,
                     key_source: str) -> None:
    """`--insecure-http`: plain http to a non-loopback host only with an `sk_test_` key; an
    `sk_live_` key is never sent over it, whatever the flags."""
    if not is_plain_http_remote(base_url) or api_key is None:
        return
    if api_key.startswith("sk_test_"):
        return
    kind = "an sk_live_ key" if api_key.startswith("sk_live_") else "a key that is not sk_test_"
    raise UsageError(
        f"{url_source} is plain http:// to a non-loopback host and the key from {key_source} is "
        f"{kind}; such a key is never sent in clear text, --insecure-http or not. Use https://."
    )


def check_query(expression: str) -> None:
    """A --query that does not compile is a usage error before anything is sent."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        raise UsageError(f"--query is not a valid JMESPath expression: {exc}") from None


def _seconds(raw: str, source: str) -> float:
    try:
        return parse_seconds(raw, minimum=0.0, inclusive=False)
    except ValueError as exc:
        raise UsageError(f"{source} {exc}") from None


def _count(raw: str, source: str) -> int:
    try:
        return parse_count(raw, minimum=0)
    except ValueError as exc:
        raise UsageError(f"{source} {exc}") from None


def _scalar(value: Any, source: str, kinds: tuple[type, ...]) -> str:
    """A profile value as the text a flag would have been given; wrong TOML types are exit 2."""
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = {str: "a string", int: "a whole number", float: "a number"}
        want = " or ".join(names[k] for k in kinds)
        raise UsageError(f"{source} must be {want} (got {type(value).__name__} {value!r})")
    return str(value)


def _param(parse: Callable[[str], Any], raw: str, source: str) -> Any:
    from flora_cli.cli.params import ParamError

    try:
        return parse(raw)
    except (ParamError, ValueError) as exc:
        raise UsageError(f"{source}: {exc}") from None


def _check_format(raw: str, source: str) -> str:
    if raw.lower() not in FORMATS:
        raise UsageError(f"{source} must be one of {', '.join(FORMATS)} (got {raw!r})")
    return raw.lower()


def _check_bool(raw: str, source: str) -> bool:
    low = raw.strip().lower()
    if low in TRUE_WORDS:
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{source} must be true or false (got {raw!r})")


def check_setting(key: str, value: Any, source: str) -> Any:
    """A setting's value from any layer, checked with the rule of its flag (exit 2)."""
    from flora_cli.cli import params as p

    if key == "base_url":
        return check_base_url(_scalar(value, source, (str,)), source, insecure_http=True)
    if key == "timeout":
        return _seconds(_scalar(value, source, (int, float, str)), source)
    if key == "max_retries":
        return _count(_scalar(value, source, (int, str)), source)
    if key == "format":
        return _check_format(_scalar(value, source, (str,)), source)
    if key == "workspace_id":
        return _param(lambda v: p.parse_prefixed_id(v, "ws_"), _scalar(value, source, (str,)),
                      source)
    if key == "project_id":
        return _param(lambda v: p.parse_prefixed_id(v, "prj_"), _scalar(value, source, (str,)),
                      source)
    if key == "model":
        return _param(p.parse_model_id, _scalar(value, source, (str,)), source)
    if key == "poll_interval":
        return _param(lambda v: parse_seconds(v, minimum=0.5),
                      _scalar(value, source, (int, float, str)), source)
    if key == "ledger":
        if isinstance(value, bool):
            return value
        return _check_bool(_scalar(value, source, (str,)), source)
    raise UsageError(f"unknown setting {key!r}")


#: setting → (the global option that sets it, if any; its environment variable).
#: `workspace_id`, `project_id`, `model` and `poll_interval` are options of the commands
#: that use them (click applies flag and variable there); the profile fills in below them.
SETTING_SOURCES: dict[str, tuple[OptionSpec | None, str]] = {
    "base_url": (o.BASE_URL, "FLORA_BASE_URL"),
    "workspace_id": (None, "FLORA_WORKSPACE_ID"),
    "project_id": (None, "FLORA_PROJECT_ID"),
    "model": (None, "FLORA_MODEL"),
    "format": (o.FORMAT, "FLORA_FORMAT"),
    "timeout": (o.TIMEOUT, "FLORA_TIMEOUT"),
    "max_retries": (o.MAX_RETRIES, "FLORA_MAX_RETRIES"),
    "poll_interval": (None, "FLORA_POLL_INTERVAL"),
    "ledger": (None, "FLORA_NO_LEDGER"),
}
DEFAULTS: dict[str, Any] = {
    "base_url": DEFAULT_BASE_URL, "workspace_id": None, "project_id": None, "model": None,
    "format": o.FORMAT.default, "timeout": float(o.TIMEOUT.default),  # type: ignore[arg-type]
    "max_retries": o.MAX_RETRIES.default, "poll_interval": None, "ledger": True,
}
#: Settings of a profile that belong to its API: under --sandbox they do not apply.
SANDBOX_IGNORES = frozenset({"base_url", "workspace_id", "project_id"})


def _stderr_notice(message: str) -> None:
    from flora_cli.textsafe import clean

    sys.stderr.write(clean(message.rstrip("\n")) + "\n")
    sys.stderr.flush()


def resolve(flags: Mapping[str, Any], env: Mapping[str, str] | None = None,
            stdout_isatty: bool | None = None, *, new_profile_ok: bool = False,
            read_stored_key: bool = True,
            notice: Callable[[str], None] | None = None) -> Settings:
    """Merge flags given on the command line (either position), the environment, the active
    profile and the defaults. `new_profile_ok`: a profile that does not exist yet is fine
    (`auth login`); `read_stored_key=False` leaves the keyring and credentials file alone."""
    from flora_cli.config.keysource import find_key
    from flora_cli.config.paths import config_paths
    from flora_cli.config.profiles import load_config

    env = os.environ if env is None else env
    if stdout_isatty is None:
        stdout_isatty = sys.stdout.isatty()
    quiet = bool(flags.get(o.QUIET.dest))
    if notice is None:
        notice = (lambda message: None) if quiet else _stderr_notice

    def on(spec: OptionSpec) -> bool:
        """A boolean option: the flag, else its variable (1/true/yes/on, any case)."""
        return bool(flags.get(spec.dest)) or (spec.env is not None and env_flag(env, spec.env))

    sandbox = on(o.SANDBOX)
    paths = config_paths(env)
    config = load_config(paths.config)
    for line in config.warnings:
        notice(f"warning: {line}")
    profile_name, profile_from = choose_profile(flags, env, config.current_profile, config.path)
    profile = (config.profile(profile_name) if new_profile_ok
               else config.require(profile_name, profile_from))
    sources: dict[str, str] = {
        "profile": {o.PROFILE.flag: "flag", o.PROFILE.env or "": f"env {o.PROFILE.env}",
                    "default": "default"}.get(profile_from, "config current_profile"),
    }

    def pick(key: str) -> Any:
        spec, env_name = SETTING_SOURCES[key]
        if spec is not None and flags.get(spec.dest) is not None:
            sources[key] = "flag"
            return check_setting(key, flags[spec.dest], spec.flag)
        raw = _env(env, env_name)
        if raw is not None:
            sources[key] = f"env {env_name}"
            if key == "ledger":  # FLORA_NO_LEDGER=1 turns the ledger off
                return not _check_bool(raw, env_name)
            return check_setting(key, raw, env_name)
        if key in profile.values and not (sandbox and key in SANDBOX_IGNORES):
            sources[key] = f"profile {profile.name}"
            return check_setting(key, profile.values[key],
                                 f"{config.path}: [profiles.{profile.name}] {key}")
        sources[key] = "default"
        return DEFAULTS[key]

    values = {key: pick(key) for key in SETTING_SOURCES}
    if flags.get(o.JSON.dest):
        sources["format"] = "flag"
        values["format"] = "json"
    fmt = resolve_format(values["format"], stdout_isatty)

    insecure_http = on(o.INSECURE_HTTP)
    url_source = {"flag": o.BASE_URL.flag, "default": "the default base URL"}.get(
        sources["base_url"], sources["base_url"].replace("env ", ""))
    if sources["base_url"].startswith("profile"):
        url_source = f"base_url of profile {profile.name}"
    base_url = check_base_url(values["base_url"], url_source, insecure_http=insecure_http)

    found = find_key(api_key=flags.get(o.API_KEY.dest),
                     api_key_file=flags.get(o.API_KEY_FILE.dest), env=env,
                     profile=None if (sandbox or not read_stored_key) else profile,
                     paths=paths, notice=notice)
    api_key = check_api_key(found.key, found.source) if found.key is not None else None
    sources["api_key"] = _key_source_label(found.source)
    check_plain_http(base_url, url_source, api_key or None, found.source)

    from flora_cli.config.headers import custom_headers

    headers = custom_headers(flags.get(o.HEADER.dest) or (), env)

    query = flags.get(o.QUERY.dest)
    if query is not None:
        check_query(query)

    return Settings(
        api_key=api_key or None,
        base_url=base_url,
        timeout=values["timeout"],
        max_retries=values["max_retries"],
        format=fmt,
        query=query,
        raw_output=bool(flags.get(o.RAW_OUTPUT.dest)),
        debug=on(o.DEBUG),
        quiet=quiet,
        no_color=bool(flags.get(o.NO_COLOR.dest)),
        sandbox=sandbox,
        profile=profile.name,
        api_key_source=found.source,
        workspace_id=values["workspace_id"],
        project_id=values["project_id"],
        model=values["model"],
        poll_interval=values["poll_interval"],
        ledger=values["ledger"],
        headers=headers,
        insecure_http=insecure_http,
        sources=sources,
        values=values,
    )


def choose_profile(flags: Mapping[str, Any], env: Mapping[str, str],
                   current_profile: str | None, config_path: str) -> tuple[str, str]:
    """(profile name, where it came from): --profile > FLORA_PROFILE > current_profile >
    `default`."""
    from flora_cli.config.profiles import DEFAULT_PROFILE, check_profile_name

    if flags.get(o.PROFILE.dest) is not None:
        return check_profile_name(str(flags[o.PROFILE.dest]), o.PROFILE.flag), o.PROFILE.flag
    named = _env(env, o.PROFILE.env or "")
    if named is not None:
        return check_profile_name(named, str(o.PROFILE.env)), str(o.PROFILE.env)
    if current_profile is not None:
        return current_profile, f"current_profile in {config_path}"
    return DEFAULT_PROFILE, "default"


def _key_source_label(source: str) -> str:
    if source.startswith("--"):
        return "flag"
    if source.startswith("FLORA_"):
        return "env " + source.split(" ", 1)[0]
    if source.startswith("profile "):
        return source
    return "none"


def guess_format(argv: list[str], env: Mapping[str, str] | None = None) -> str:
    """The output format for an error raised before the settings could be resolved
    (a click usage error): read straight from argv and the environment."""
    env = os.environ if env is None else env
    value: str | None = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--json":
            return "json"
        if arg == "--format" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--format="):
            value = arg.split("=", 1)[1]
    value = value or _env(env, "FLORA_FORMAT")
    try:
        return resolve_format(value, sys.stdout.isatty())
    except UsageError:
        return resolve_format(None, sys.stdout.isatty())

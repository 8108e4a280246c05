"""One resolved settings object: flag > environment > default. Standard library only.

Which variable backs each option and what its default is come from `optspec`, the same records
that `--help` and the man pages show.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flora_cli import optspec as o
from flora_cli.api.errors import UsageError
from flora_cli.optspec import DEFAULT_BASE_URL, OptionSpec
from flora_cli.vocab import env_flag, parse_count, parse_seconds

FORMATS = ("auto", "json", "jsonl", "yaml", "pretty", "raw")


@dataclass(frozen=True)
class Settings:
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

    @property
    def pretty(self) -> bool:
        return self.format == "pretty"


__all__ = ["FORMATS", "Settings", "env_flag", "guess_format", "resolve"]


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
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, source: str) -> str:
    """`https://`, or `http://` to a loopback host only, so a key never travels in clear text."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"{source} is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{source} must be an http(s) URL such as {DEFAULT_BASE_URL} "
                         f"(got {url!r})")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise UsageError(
            f"{source} uses plain http:// to a non-loopback host ({parts.hostname}); the API key "
            "would travel in clear text. Use https://, or http:// only to 127.0.0.1, ::1 or "
            "localhost."
        )
    return url.rstrip("/")


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


def resolve(flags: Mapping[str, Any], env: Mapping[str, str] | None = None,
            stdout_isatty: bool | None = None) -> Settings:
    """Merge flags given on the command line (either position) with the environment."""
    env = os.environ if env is None else env
    if stdout_isatty is None:
        stdout_isatty = sys.stdout.isatty()

    def pick(spec: OptionSpec) -> tuple[Any, str]:
        """(value, where it came from): the flag, else the variable, else (None, "")."""
        if flags.get(spec.dest) is not None:
            return flags[spec.dest], spec.flag
        if spec.env and _env(env, spec.env) is not None:
            return _env(env, spec.env), spec.env
        return None, ""

    def on(spec: OptionSpec) -> bool:
        """A boolean option: the flag, else its variable (1/true/yes/on, any case)."""
        return bool(flags.get(spec.dest)) or (spec.env is not None and env_flag(env, spec.env))

    api_key, _ = pick(o.API_KEY)
    if isinstance(api_key, str):
        api_key = api_key.strip() or None

    base_url, src = pick(o.BASE_URL)
    base_url = check_base_url(base_url, src) if base_url else DEFAULT_BASE_URL

    raw_timeout, src = pick(o.TIMEOUT)
    timeout = _seconds(str(raw_timeout), src) if raw_timeout is not None else float(
        o.TIMEOUT.default)  # type: ignore[arg-type]
    raw_retries, src = pick(o.MAX_RETRIES)
    max_retries = _count(str(raw_retries), src) if raw_retries is not None else int(
        o.MAX_RETRIES.default)  # type: ignore[call-overload]

    if flags.get(o.JSON.dest):
        fmt_value: str | None = "json"
    else:
        fmt_value, src = pick(o.FORMAT)
        if fmt_value is not None and str(fmt_value).lower() not in FORMATS:
            raise UsageError(f"{src} must be one of {', '.join(FORMATS)} (got {fmt_value!r})")
    fmt = resolve_format(fmt_value, stdout_isatty)

    query = flags.get(o.QUERY.dest)
    if query is not None:
        check_query(query)

    return Settings(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        format=fmt,
        query=query,
        raw_output=bool(flags.get(o.RAW_OUTPUT.dest)),
        debug=on(o.DEBUG),
        quiet=bool(flags.get(o.QUIET.dest)),
        no_color=bool(flags.get(o.NO_COLOR.dest)),
        sandbox=on(o.SANDBOX),
    )


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

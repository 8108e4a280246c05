"""Where the API key comes from, first found wins:

    --api-key, --api-key-file, FLORA_API_KEY, FLORA_API_KEY_FILE, the profile's stored key

A key file (Docker and Kubernetes secrets) loses one trailing newline; an empty file, a
directory or an unreadable file is exit 2 naming the option or variable. The profile's key is
read from the keyring only when the profile's `key_store` says so; a keyring that fails at read
time gives one notice and the credentials file is tried next. Every key found is returned with
a `source` label (never the key itself) for messages and `auth status`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from flora_cli.config.errors import KeyFileError, KeyStoreError
from flora_cli.config.smallfile import SmallFileProblem, read_small

if TYPE_CHECKING:
    from flora_cli.config.paths import ConfigPaths
    from flora_cli.config.profiles import Profile

API_KEY_ENV = "FLORA_API_KEY"
API_KEY_FILE_ENV = "FLORA_API_KEY_FILE"

Notice = Callable[[str], None]


class FoundKey:
    """A key and where it came from (never the key itself in `source`)."""

    __slots__ = ("key", "source", "store")

    def __init__(self, key: str | None, source: str, store: str | None = None) -> None:
        self.key = key
        #: `--api-key`, `--api-key-file PATH`, `FLORA_API_KEY`, `FLORA_API_KEY_FILE PATH`,
        #: `profile NAME (keyring)`, `profile NAME (credentials.toml)`, or `none`.
        self.source = source
        #: For a stored key: `keyring` or `file`.
        self.store = store


def read_key_file(path: str, source: str) -> str:
    """The key in a file, less one trailing newline (exit 2 when there is none)."""
    shown = path
    try:
        data = read_small(os.path.expanduser(path))
    except SmallFileProblem as problem:
        raise KeyFileError({
            "missing": f"{source}: no such file: {shown}",
            "directory": f"{source}: {shown} is a directory, not a key file",
            "special": f"{source}: {shown} is not a regular file",
            "large": f"{source}: {shown} is larger than 1 MiB; it is not a key file",
        }.get(problem.kind, f"{source}: cannot read {shown}: {problem.detail}")) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(f"{source}: {shown} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise KeyFileError(f"{source}: {shown} is empty; it should hold the API key")
    return text


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "")
    return value if value.strip() else None


def stored_key(profile: Profile, paths: ConfigPaths, notice: Notice) -> FoundKey:
    """The profile's stored key: the keyring when `key_store = "keyring"`, then the file."""
    from flora_cli.config import credentials, keystore

    if profile.key_store == "keyring":
        try:
            key = keystore.get_key(profile.name)
        except KeyStoreError as exc:
            notice(f"{exc.message}; trying {paths.credentials}")
        else:
            if key is not None:
                return FoundKey(key, f"profile {profile.name} (keyring)", "keyring")
    keys = credentials.read_keys(paths.credentials)
    key = (keys or {}).get(profile.name)
    if key is not None:
        return FoundKey(key, f"profile {profile.name} ({os.path.basename(paths.credentials)})",
                        "file")
    return FoundKey(None, "none")


def find_key(
    *,
    api_key: str | None,
    api_key_file: str | None,
    env: Mapping[str, str],
    profile: Profile | None,
    paths: ConfigPaths | None,
    notice: Notice,
) -> FoundKey:
    """The first key found, in the documented order. `profile` None skips the stored key."""
    if api_key is not None:
        return FoundKey(api_key, "--api-key")
    if api_key_file is not None:
        return FoundKey(read_key_file(api_key_file, "--api-key-file"),
                        f"--api-key-file {api_key_file}")
    key = _env(env, API_KEY_ENV)
    if key is not None:
        return FoundKey(key, API_KEY_ENV)
    key_file = _env(env, API_KEY_FILE_ENV)
    if key_file is not None:
        return FoundKey(read_key_file(key_file, API_KEY_FILE_ENV),
                        f"{API_KEY_FILE_ENV} {key_file}")
    if profile is None or paths is None:
        return FoundKey(None, "none")
    if profile.key_store is None and not os.path.lexists(paths.credentials):
        return FoundKey(None, "none")
    return stored_key(profile, paths, notice)


def mask(key: str | None) -> str:
    """`sk_live_…a1b2`: the kind of key and its last four characters, never more.

    A short key shows only its kind: four characters of eight would say too much.
    """
    if not key:
        return ""
    prefix = next((p for p in ("sk_live_", "sk_test_") if key.startswith(p)), "")
    rest = key[len(prefix):]
    if len(rest) >= 16:
        return f"{prefix}…{rest[-4:]}"
    return f"{prefix}…"

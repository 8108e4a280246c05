"""`config.toml`: a top-level `current_profile` and one `[profiles.NAME]` table per profile.

    current_profile = "work"

    [profiles.work]
    base_url = "https://app.flora.ai/api/v1"
    workspace_id = "ws_abc123"
    key_store = "keyring"      # written by `flora auth login`

The file is read only when it exists. Its shape is checked here (exit 2 naming the file and the
key); the values of the settings are checked by the settings layer with the same rules as the
matching flags. A key this version does not know is one warning, not an error, so a config
written by a newer flora still works.
"""

from __future__ import annotations

import os
import re
from typing import Any

from flora_cli.config.errors import ConfigError, UnknownProfileError

#: The settings a profile may hold, in the order `config list` shows them.
SETTING_KEYS: tuple[str, ...] = (
    "base_url", "workspace_id", "project_id", "model", "format", "timeout", "max_retries",
    "poll_interval", "ledger",
)
#: Where the profile's key is stored; written by `auth login`, not a setting to `config set`.
KEY_STORE = "key_store"
KEY_STORES = ("keyring", "file")
DEFAULT_PROFILE = "default"
PROFILE_ENV = "FLORA_PROFILE"
_PROFILE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"  # compiled by `re` on first use


def check_profile_name(name: str, source: str) -> str:
    if not re.fullmatch(_PROFILE_NAME, name):
        from flora_cli.textsafe import clean_line

        raise ConfigError(
            f"{source}: {clean_line(repr(name))} is not a profile name (letters, digits, '_', "
            "'-' and '.', starting with a letter or digit, at most 64 characters)"
        )
    return name


class Profile:
    """One `[profiles.NAME]` table. (Plain classes here: defining a dataclass costs about a
    millisecond, and this module loads on every start.)"""

    __slots__ = ("key_store", "name", "values")

    def __init__(self, name: str, values: dict[str, Any] | None = None,
                 key_store: str | None = None) -> None:
        self.name = name
        #: The raw TOML values of the known settings present in the table.
        self.values: dict[str, Any] = values if values is not None else {}
        self.key_store = key_store


class ConfigFile:
    __slots__ = ("current_profile", "exists", "path", "profiles", "warnings")

    def __init__(self, path: str, exists: bool, current_profile: str | None = None,
                 profiles: dict[str, Profile] | None = None,
                 warnings: tuple[str, ...] = ()) -> None:
        self.path = path
        self.exists = exists
        self.current_profile = current_profile
        self.profiles: dict[str, Profile] = profiles if profiles is not None else {}
        #: One line per unknown key (each printed once, as a warning).
        self.warnings = warnings

    def known_profiles(self) -> list[str]:
        names = set(self.profiles) | {DEFAULT_PROFILE}
        return sorted(names)

    def profile(self, name: str) -> Profile:
        return self.profiles.get(name) or Profile(name)

    def require(self, name: str, source: str) -> Profile:
        """The named profile; an unknown one is exit 2 with the known ones listed."""
        if name in self.profiles or name == DEFAULT_PROFILE:
            return self.profile(name)
        known = ", ".join(self.known_profiles())
        where = f" in {self.path}" if self.exists else f" ({self.path} does not exist)"
        raise UnknownProfileError(
            f"unknown profile {name!r} from {source}{where}; known profiles: {known}. "
            f"Create it with: flora auth login --profile {name}"
        )


def _suggest(key: str, known: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(value: Any) -> str:
    return type(value).__name__ if not isinstance(value, dict) else "table"


def parse_config(doc: dict[str, Any], path: str) -> ConfigFile:
    from flora_cli.textsafe import clean_line

    warnings: list[str] = []
    current = doc.get("current_profile")
    if current is not None:
        if not isinstance(current, str):
            raise ConfigError(f"{path}: current_profile must be a string "
                              f"(got a {_describe(current)})")
        check_profile_name(current, f"{path}: current_profile")
    for key in doc:
        if key not in ("current_profile", "profiles"):
            warnings.append(f"{path}: unknown key {clean_line(repr(key))} ignored"
                            f"{_suggest(key, ('current_profile', 'profiles'))}")
    tables = doc.get("profiles", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table of [profiles.NAME] tables "
                          f"(got a {_describe(tables)})")
    profiles: dict[str, Profile] = {}
    for name, table in tables.items():
        check_profile_name(name, f"{path}: [profiles.{clean_line(name)}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: profiles.{name} must be a table such as "
                              f"[profiles.{name}] (got a {_describe(table)})")
        values: dict[str, Any] = {}
        key_store: str | None = None
        for key, value in table.items():
            if key in SETTING_KEYS:
                values[key] = value
            elif key == KEY_STORE:
                if value not in KEY_STORES:
                    raise ConfigError(f"{path}: [profiles.{name}] key_store must be one of "
                                      f"{', '.join(KEY_STORES)} (got {clean_line(repr(value))})")
                key_store = str(value)
            else:
                warnings.append(f"{path}: [profiles.{name}] unknown key "
                                f"{clean_line(repr(key))} ignored{_suggest(key, SETTING_KEYS)}")
        profiles[name] = Profile(name, values, key_store)
    return ConfigFile(path, True, current, profiles, tuple(warnings))


def load_config(path: str) -> ConfigFile:
    """The config file; one `stat` and nothing else when it does not exist."""
    if not os.path.lexists(path):
        return ConfigFile(path, False)
    from flora_cli.config.tomlio import read_toml

    doc = read_toml(path, what="config file")
    if doc is None:
        return ConfigFile(path, False)
    return parse_config(doc, path)

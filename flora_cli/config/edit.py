"""Editing `config.toml` in place with tomlkit, so a person's comments, blank lines and key
order survive `config set`, `config unset` and `auth login`. Every write is atomic; a new file
is created with mode 0600 and an existing one keeps its mode.
"""

from __future__ import annotations

import os
from typing import Any

from flora_cli.config.errors import ConfigError
from flora_cli.config.tomlio import file_mode, parse_toml, read_text, write_atomic

NEW_FILE_MODE = 0o600
HEADER = "# flora-cli configuration: flora config set KEY VALUE [--profile NAME]\n"


class ConfigEditor:
    """A round-trip document of config.toml; `save()` writes it back atomically."""

    def __init__(self, path: str) -> None:
        import tomlkit

        self.path = path
        self.existed = os.path.lexists(path)
        if self.existed:
            text = read_text(path, what="config file")
            parse_toml(text, path, what="config file")  # the same errors as everywhere
            self.doc: Any = tomlkit.parse(text)
        else:
            self.doc = tomlkit.parse(HEADER)

    def _profiles(self, create: bool) -> Any:
        import tomlkit

        profiles = self.doc.get("profiles")
        if profiles is None and create:
            profiles = tomlkit.table(is_super_table=True)
            self.doc.add("profiles", profiles)
        if profiles is not None and not isinstance(profiles, dict):
            raise ConfigError(f"{self.path}: 'profiles' must be a table of [profiles.NAME] tables")
        return profiles

    def _profile(self, name: str, create: bool) -> Any:
        import tomlkit

        profiles = self._profiles(create)
        if profiles is None:
            return None
        table = profiles.get(name)
        if table is None and create:
            table = tomlkit.table()
            profiles.add(name, table)
        if table is not None and not isinstance(table, dict):
            raise ConfigError(f"{self.path}: profiles.{name} must be a table")
        return table

    def ensure_profile(self, name: str) -> None:
        self._profile(name, create=True)

    def set(self, profile: str, key: str, value: Any) -> None:
        self._profile(profile, create=True)[key] = value

    def unset(self, profile: str, key: str) -> bool:
        table = self._profile(profile, create=False)
        if table is None or key not in table:
            return False
        del table[key]
        return True

    def get(self, profile: str, key: str) -> Any:
        table = self._profile(profile, create=False)
        return None if table is None else table.get(key)

    def set_current_profile(self, name: str | None) -> None:
        """tomlkit places a new top-level key before the first table, after the comments."""
        if name is None:
            if "current_profile" in self.doc:
                del self.doc["current_profile"]
        elif "current_profile" in self.doc:
            self.doc["current_profile"] = name
        else:
            self.doc.add("current_profile", name)

    def save(self) -> None:
        import tomlkit

        mode = file_mode(self.path) if self.existed else None
        write_atomic(self.path, tomlkit.dumps(self.doc), mode=mode or NEW_FILE_MODE)

"""`credentials.toml`: API keys kept outside the OS keyring, one `[profiles.NAME]` table each.

    [profiles.work]
    api_key = "sk_live_…"

Written atomically with mode 0600. A file that group or others may read is refused before a
byte of it is read (exit 4, with the `chmod 600 PATH` to run), like ssh refuses a private key.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from flora_cli.config.errors import ConfigError, InsecureCredentialsError
from flora_cli.config.tomlio import parse_toml, read_text, write_atomic

FILE_MODE = 0o600
HEADER = ("# flora-cli API keys, one [profiles.NAME] table each (flora auth login).\n"
          "# Keep this file private: chmod 600.\n")
_CHECK_MODE = os.name == "posix"


def _open_checked(path: str) -> int | None:
    """An fd of the credentials file after the permission check, or None when it is absent."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(f"credentials file {path} is a directory, not a file") from None
    except PermissionError as exc:
        raise InsecureCredentialsError(
            f"cannot read the credentials file {path}: {exc.strerror or exc} "
            f"(check its owner and mode: ls -l {path})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read credentials file {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if _CHECK_MODE and stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        mode = stat.S_IMODE(st.st_mode)
        raise InsecureCredentialsError(
            f"the credentials file {path} can be accessed by group or others (mode {mode:04o}); "
            f"refusing to read it. Run: chmod 600 {path}"
        )
    return fd


def read_keys(path: str) -> dict[str, str] | None:
    """profile name → key, or None when the file does not exist."""
    fd = _open_checked(path)
    if fd is None:
        return None
    doc = parse_toml(read_text(path, what="credentials file", fd=fd), path,
                     what="credentials file")
    tables = doc.get("profiles", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table of [profiles.NAME] tables")
    keys: dict[str, str] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: profiles.{name} must be a table with an api_key")
        key = table.get("api_key")
        if key is None:
            continue
        if not isinstance(key, str):
            raise ConfigError(f"{path}: [profiles.{name}] api_key must be a string")
        keys[str(name)] = key
    return keys


def _load_document(path: str) -> Any:
    import tomlkit

    fd = _open_checked(path)
    if fd is None:
        return tomlkit.parse(HEADER)
    text = read_text(path, what="credentials file", fd=fd)
    parse_toml(text, path, what="credentials file")  # the same errors as reading
    return tomlkit.parse(text)


def store_key(path: str, profile: str, key: str) -> None:
    """Put `key` under `[profiles.PROFILE]`, keeping the rest of the file as it was."""
    import tomlkit

    doc = _load_document(path)
    if "profiles" not in doc:
        doc.add("profiles", tomlkit.table(is_super_table=True))
    profiles = doc["profiles"]
    if profile not in profiles:
        profiles.add(profile, tomlkit.table())
    profiles[profile]["api_key"] = key
    write_atomic(path, tomlkit.dumps(doc), mode=FILE_MODE)


def delete_key(path: str, profile: str) -> bool:
    """Remove the profile's key; True when there was one. An emptied table is removed too."""
    if not os.path.lexists(path):
        return False
    import tomlkit

    doc = _load_document(path)
    profiles = doc.get("profiles")
    if profiles is None or profile not in profiles or "api_key" not in profiles[profile]:
        return False
    del profiles[profile]["api_key"]
    if not profiles[profile]:
        del profiles[profile]
    write_atomic(path, tomlkit.dumps(doc), mode=FILE_MODE)
    return True

"""Where the files live: `FLORA_CONFIG_DIR`, else the platform's user config dir.

On Linux and the BSDs the dir is computed here with the XDG rule that `platformdirs` applies
(`$XDG_CONFIG_HOME/flora` when that variable is an absolute path, else `~/.config/flora`), so
the common CI path never imports `platformdirs` (~12 ms). On macOS and Windows, whose rules have
more cases, `platformdirs` itself answers. A test compares both on the platform it runs on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

APP_NAME = "flora"
CONFIG_FILE = "config.toml"
CREDENTIALS_FILE = "credentials.toml"
CONFIG_DIR_ENV = "FLORA_CONFIG_DIR"


def _xdg_config_home(env: Mapping[str, str]) -> str:
    xdg = env.get("XDG_CONFIG_HOME", "")
    if os.path.isabs(xdg):
        return xdg
    home = env.get("HOME", "")
    if not os.path.isabs(home):
        home = os.path.expanduser("~")
    return os.path.join(home, ".config")


def platform_config_dir(env: Mapping[str, str] | None = None) -> str:
    """The user config dir of `flora` on this platform (what `platformdirs` says)."""
    env = os.environ if env is None else env
    if sys.platform not in ("darwin", "win32", "cygwin", "ios", "android"):
        return os.path.join(_xdg_config_home(env), APP_NAME)
    import platformdirs

    return str(platformdirs.user_config_dir(APP_NAME, appauthor=False))


class ConfigPaths:
    """The config dir and its two files. (A plain class: a dataclass costs about a millisecond
    to define, on every start.)"""

    __slots__ = ("config", "credentials", "dir", "source")

    def __init__(self, dir: str, config: str, credentials: str, source: str) -> None:
        self.dir = dir
        self.config = config
        self.credentials = credentials
        #: Where the dir came from: `FLORA_CONFIG_DIR` or `platform`.
        self.source = source


def config_paths(env: Mapping[str, str] | None = None) -> ConfigPaths:
    env = os.environ if env is None else env
    override = env.get(CONFIG_DIR_ENV, "").strip()
    if override:
        base, source = os.path.abspath(os.path.expanduser(override)), CONFIG_DIR_ENV
    else:
        base, source = platform_config_dir(env), "platform"
    return ConfigPaths(base, os.path.join(base, CONFIG_FILE),
                       os.path.join(base, CREDENTIALS_FILE), source)

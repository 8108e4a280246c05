"""Test isolation shared by every test (simonw/llm's tests/conftest.py shape)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.plugin_sandbox"]

_CLEARED_PREFIXES = ("FLORA_",)
_CLEARED = (
    "PYTHON_KEYRING_BACKEND",
    "NO_COLOR",
    "FORCE_COLOR",
    "TERM",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("COLUMNS", "100")
    # Profiles and keys live in a temp dir; the keyring is keyring's own "no backend" unless a
    # test selects one of tests/keyring_backends.py: never the machine's keychain.
    monkeypatch.setenv("FLORA_CONFIG_DIR", str(tmp_path_factory.mktemp("flora-config")))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    _reload_keyring()
    yield


def _reload_keyring() -> None:
    """keyring picks its backend once per process: pick again after the env changed."""
    import sys

    core = sys.modules.get("keyring.core")
    if core is not None:
        core.init_backend()

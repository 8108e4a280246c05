"""Real keyring backends for the tests, selected through keyring's own configuration
(`PYTHON_KEYRING_BACKEND=tests.keyring_backends.JsonFileKeyring`), so the CLI runs its real
keyring code, in-process and in subprocesses alike. Never the machine's own keychain.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError

STORE_ENV = "FLORA_TEST_KEYRING_FILE"


class JsonFileKeyring(KeyringBackend):
    """A working backend: `{service: {username: password}}` in the file named by
    FLORA_TEST_KEYRING_FILE, so a subprocess and the test see the same keyring."""

    priority = 5  # type: ignore[assignment,unused-ignore]

    def _path(self) -> Path:
        return Path(os.environ[STORE_ENV])

    def _load(self) -> dict[str, dict[str, str]]:
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise PasswordDeleteError("not found")
        del data[service][username]
        self._path().write_text(json.dumps(data))


class LockedKeyring(JsonFileKeyring):
    """A backend that is there but fails at read time, like a locked Secret Service."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

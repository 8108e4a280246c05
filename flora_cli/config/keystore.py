"""The OS keyring through the `keyring` package (macOS Keychain, Windows Credential Manager,
Secret Service). `keyring` loads its backends on import (~100 ms), so this module imports it
inside each function, and only the profiles whose `key_store` is `keyring` reach it.

The backend is whatever keyring's own configuration selects (`PYTHON_KEYRING_BACKEND`,
`keyringrc.cfg`, else the best one it detects). It is usable unless keyring fell back to its
`fail` or `null` backend, or the chosen one has a priority below zero.
"""

from __future__ import annotations

from typing import Any

from flora_cli.config.errors import KeyStoreError

SERVICE = "flora-cli"


def _backend() -> Any:
    import keyring

    try:
        return keyring.get_keyring()
    except Exception as exc:  # a broken keyringrc.cfg or backend raises anything
        raise KeyStoreError(f"the keyring could not be loaded: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    """One line about a backend's exception; anything shaped like a FLORA key is redacted."""
    from flora_cli.redact import scrub
    from flora_cli.textsafe import clean_line

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return clean_line(scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__,
                            None))


def backend_name() -> str:
    try:
        kr = _backend()
    except KeyStoreError:
        return "none"
    return f"{type(kr).__module__}.{type(kr).__qualname__}"


def usable() -> tuple[bool, str]:
    """(whether a real keyring backend is available, its name or why not)."""
    try:
        kr = _backend()
    except KeyStoreError as exc:
        return False, exc.message
    from keyring.backends import fail, null

    name = f"{type(kr).__module__}.{type(kr).__qualname__}"
    if isinstance(kr, (fail.Keyring, null.Keyring)):
        return False, f"no usable keyring backend ({name})"
    try:
        priority = float(kr.priority)
    except Exception as exc:
        return False, f"keyring backend {name} is not viable: {_why(exc)}"
    if priority < 0:
        return False, f"keyring backend {name} is not viable (priority {priority:g})"
    backends = getattr(kr, "backends", None)
    if backends is not None and not backends:
        return False, "no usable keyring backend (the chainer has none)"
    return True, name


def get_key(profile: str) -> str | None:
    try:
        value = _backend().get_password(SERVICE, profile)
    except KeyStoreError:
        raise
    except Exception as exc:
        raise KeyStoreError(f"the keyring could not be read: {_why(exc)}") from None
    return value if isinstance(value, str) and value else None


def set_key(profile: str, key: str) -> None:
    try:
        _backend().set_password(SERVICE, profile, key)
    except KeyStoreError:
        raise
    except Exception as exc:
        raise KeyStoreError(f"the keyring could not store the key: {_why(exc)}") from None


def delete_key(profile: str) -> bool:
    """Remove the profile's key; True when there was one."""
    from keyring.errors import PasswordDeleteError

    try:
        kr = _backend()
        if kr.get_password(SERVICE, profile) is None:
            return False
        kr.delete_password(SERVICE, profile)
    except PasswordDeleteError:
        return False
    except KeyStoreError:
        raise
    except Exception as exc:
        raise KeyStoreError(f"the keyring could not remove the key: {_why(exc)}") from None
    return True

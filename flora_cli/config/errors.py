"""Errors of the config room; each carries its exit code like every flora error."""

from __future__ import annotations

from flora_cli.api.errors import EXIT_AUTH, FloraError, UsageError


class ConfigError(UsageError):
    """A config or credentials file, a profile name or a setting that cannot be used (exit 2)."""

    default_code = "config_error"


class UnknownProfileError(ConfigError):
    default_code = "unknown_profile"


class KeyFileError(ConfigError):
    """`--api-key-file` / `FLORA_API_KEY_FILE` names something that is not a usable key file."""

    default_code = "bad_key_file"


class InsecureCredentialsError(FloraError):
    """A credentials file that group or others may read: refused, with the chmod to run."""

    exit_code = EXIT_AUTH
    default_code = "insecure_credentials_file"


class KeyStoreError(FloraError):
    """The OS keyring failed (locked, no D-Bus, denied)."""

    exit_code = EXIT_AUTH
    default_code = "keyring_error"

"""Profiles, credentials and the files that hold them.

`config.toml` (a `current_profile` and one `[profiles.NAME]` table per profile) and
`credentials.toml` (keys stored outside the OS keyring, mode 0600) live in the platform's config
dir, or in `FLORA_CONFIG_DIR`. This package imports only the standard library at start: TOML
readers, the round-trip editor, `platformdirs` and `keyring` load inside the functions that need
them, and only when a file exists or the active profile says its key is in the keyring.
"""

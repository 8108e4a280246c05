"""The config room on its own: paths, TOML files, profiles, credentials, key sources, headers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flora_cli.config import credentials
from flora_cli.config.edit import ConfigEditor
from flora_cli.config.errors import ConfigError, InsecureCredentialsError, KeyFileError
from flora_cli.config.headers import custom_headers, parse_header
from flora_cli.config.keysource import find_key, mask, read_key_file
from flora_cli.config.paths import config_paths, platform_config_dir
from flora_cli.config.profiles import Profile, load_config, parse_config
from flora_cli.config.tomlio import parse_toml, write_atomic

KEY = "sk_test_0123456789abcdefWXYZ"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- paths -------------------------------------------------------------------------------------

@pytest.mark.parametrize("xdg", [None, "", "relative/dir", "/abs/xdg"])
def test_platform_dir_matches_platformdirs(xdg: str | None, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    import platformdirs

    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert platform_config_dir() == platformdirs.user_config_dir("flora", appauthor=False)


def test_config_dir_override(tmp_path: Path) -> None:
    paths = config_paths({"FLORA_CONFIG_DIR": str(tmp_path / "x"), "XDG_CONFIG_HOME": "/nope"})
    assert paths.config == str(tmp_path / "x" / "config.toml")
    assert paths.credentials == str(tmp_path / "x" / "credentials.toml")
    assert paths.source == "FLORA_CONFIG_DIR"
    assert config_paths({"XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}).dir == "/xdg/flora"


# -- config.toml -------------------------------------------------------------------------------

def test_missing_config_is_empty(tmp_path: Path) -> None:
    cfg = load_config(str(tmp_path / "config.toml"))
    assert not cfg.exists and cfg.profiles == {} and cfg.known_profiles() == ["default"]


def test_profiles_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('current_profile = "work"\ncolour = 1\n[profiles.work]\ntimout = 3\n'
                    'timeout = 5\nkey_store = "keyring"\n[profiles.ci]\n')
    cfg = load_config(str(path))
    assert cfg.current_profile == "work"
    assert cfg.profiles["work"].values == {"timeout": 5}
    assert cfg.profiles["work"].key_store == "keyring"
    assert cfg.known_profiles() == ["ci", "default", "work"]
    assert len(cfg.warnings) == 2
    assert "'timout'" in cfg.warnings[1] and "did you mean 'timeout'" in cfg.warnings[1]


@pytest.mark.parametrize(("text", "where"), [
    ("[profiles.work\n", ":1:"),
    ('current_profile = "a"\n\n[profiles.a]\ntimeout = = 3\n', ":4:11"),
    ('x = "unterminated\n', ":1:"),
])
def test_malformed_toml_names_file_line_column(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.exit_code == 2
    assert info.value.message.startswith(f"{path}{where}")
    assert "not valid TOML" in info.value.message


@pytest.mark.parametrize(("text", "message"), [
    ("current_profile = 3\n", "current_profile must be a string"),
    ('current_profile = "no spaces"\n', "is not a profile name"),
    ("profiles = 3\n", "'profiles' must be a table"),
    ("[profiles]\nwork = 3\n", "profiles.work must be a table"),
    ('[profiles.work]\nkey_store = "vault"\n', "key_store must be one of keyring, file"),
    ('[profiles."a b"]\n', "is not a profile name"),
])
def test_bad_shapes_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(path))


def test_hostile_config_files(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(path))
    path.rmdir()
    os.mkfifo(path)  # would block a naive open()
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(str(path))
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(str(path))
    path.unlink()
    path.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config(str(path))
    path.write_bytes(b'current_profile = "a"\n# \xff\xfe\n')
    with pytest.raises(ConfigError, match=r":2: config file is not UTF-8"):
        load_config(str(path))
    path.write_text('[profiles.a]\n"\\u001b[31mevil" = 1\n')
    cfg = load_config(str(path))
    assert "\x1b" not in cfg.warnings[0] and "\\x1b" in cfg.warnings[0]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_config_or_a_usage_error(text: str) -> None:
    try:
        doc = parse_toml(text, "config.toml", what="config file")
        parse_config(doc, "config.toml")
    except ConfigError as exc:
        assert exc.exit_code == 2
        assert exc.message.startswith("config.toml")
        assert "\n" not in exc.message


# -- atomic writes -----------------------------------------------------------------------------

def test_write_atomic_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_atomic(str(tmp_path / "d" / "f"), "x = 1\n", mode=0o600)
    finally:
        os.umask(old)
    assert mode(tmp_path / "d" / "f") == 0o600
    assert mode(tmp_path / "d") == 0o700


def test_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "credentials.toml"
    target.write_text("old\n")
    target.chmod(0o600)
    with pytest.raises(UnicodeEncodeError):
        write_atomic(str(target), "half \ud800", mode=0o600)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.toml"]


# -- credentials.toml --------------------------------------------------------------------------

def test_store_read_delete_key(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    credentials.store_key(str(path), "work", KEY)
    assert mode(path) == 0o600
    credentials.store_key(str(path), "ci", "sk_test_other")
    assert credentials.read_keys(str(path)) == {"work": KEY, "ci": "sk_test_other"}
    assert credentials.delete_key(str(path), "work")
    assert not credentials.delete_key(str(path), "work")
    assert credentials.read_keys(str(path)) == {"ci": "sk_test_other"}
    assert mode(path) == 0o600
    assert credentials.read_keys(str(tmp_path / "absent.toml")) is None


@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_credentials_readable_by_others_are_refused(tmp_path: Path, bits: int) -> None:
    path = tmp_path / "credentials.toml"
    credentials.store_key(str(path), "work", KEY)
    path.chmod(bits)
    with pytest.raises(InsecureCredentialsError) as info:
        credentials.read_keys(str(path))
    assert info.value.exit_code == 4
    assert f"chmod 600 {path}" in info.value.message
    assert KEY not in info.value.message
    with pytest.raises(InsecureCredentialsError):  # nor rewritten by a login
        credentials.store_key(str(path), "work", KEY)
    path.chmod(0o600)
    assert credentials.read_keys(str(path)) == {"work": KEY}


def test_credentials_comments_survive(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text("# mine\n[profiles.a]  # account A\napi_key = \"sk_test_a\"\n")
    path.chmod(0o600)
    credentials.store_key(str(path), "b", "sk_test_b")
    text = path.read_text()
    assert "# mine" in text and "# account A" in text and 'api_key = "sk_test_b"' in text


# -- editing config.toml -----------------------------------------------------------------------

def test_edit_keeps_comments_and_order(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    original = ("# my settings\n\n[profiles.work]  # the day job\ntimeout = 30  # slow VPN\n"
                "model = \"t2i-flux-2-pro\"\n\n# CI only\n[profiles.ci]\nformat = \"json\"\n")
    path.write_text(original)
    path.chmod(0o644)
    editor = ConfigEditor(str(path))
    editor.set("work", "workspace_id", "ws_1")
    editor.unset("ci", "format")
    editor.set_current_profile("work")
    editor.save()
    text = path.read_text()
    for kept in ("# my settings", "[profiles.work]  # the day job", "timeout = 30  # slow VPN",
                 "# CI only", "[profiles.ci]"):
        assert kept in text
    assert text.index("current_profile") < text.index("[profiles.work]")
    assert text.index("timeout") < text.index("model") < text.index("workspace_id")
    assert 'format = "json"' not in text
    assert mode(path) == 0o644  # an existing file keeps its mode
    cfg = load_config(str(path))
    assert cfg.current_profile == "work" and cfg.profiles["work"].values["workspace_id"] == "ws_1"


# -- key sources -------------------------------------------------------------------------------

def _notices() -> list[str]:
    return []


def test_key_sources_in_order(tmp_path: Path) -> None:
    from flora_cli.config.paths import ConfigPaths

    paths = ConfigPaths(str(tmp_path), str(tmp_path / "config.toml"),
                        str(tmp_path / "credentials.toml"), "test")
    credentials.store_key(paths.credentials, "work", "sk_test_stored")
    flag_file = tmp_path / "flag.key"
    flag_file.write_text("sk_test_flagfile\n")
    env_file = tmp_path / "env.key"
    env_file.write_text("sk_test_envfile\r\n")
    profile = Profile("work", key_store="file")
    full = {"FLORA_API_KEY": "sk_test_env", "FLORA_API_KEY_FILE": str(env_file)}
    notes: list[str] = []

    def find(api_key: str | None, api_key_file: str | None, env: dict[str, str]) -> tuple[
            str | None, str]:
        found = find_key(api_key=api_key, api_key_file=api_key_file, env=env, profile=profile,
                         paths=paths, notice=notes.append)
        return found.key, found.source

    assert find("sk_test_flag", str(flag_file), full) == ("sk_test_flag", "--api-key")
    assert find(None, str(flag_file), full) == ("sk_test_flagfile",
                                                f"--api-key-file {flag_file}")
    assert find(None, None, full) == ("sk_test_env", "FLORA_API_KEY")
    assert find(None, None, {**full, "FLORA_API_KEY": " "}) == (
        "sk_test_envfile", f"FLORA_API_KEY_FILE {env_file}")
    assert find(None, None, {}) == ("sk_test_stored", "profile work (credentials.toml)")
    assert find_key(api_key=None, api_key_file=None, env={}, profile=Profile("other"),
                    paths=paths, notice=notes.append).key is None
    assert notes == []


def test_key_file_problems_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "blank").write_text("  \n")
    (tmp_path / "latin").write_bytes(b"sk_test_\xff\n")
    (tmp_path / "large").write_bytes(b"k" * ((1 << 20) + 1))
    os.mkfifo(tmp_path / "fifo")  # opened without blocking: refused, not waited on
    for name, message in [("empty", "is empty"), ("blank", "is empty"), ("latin", "not UTF-8"),
                          ("missing", "no such file"), (".", "is a directory"),
                          ("large", "larger than 1 MiB"), ("fifo", "not a regular file")]:
        with pytest.raises(KeyFileError, match=message) as info:
            read_key_file(str(tmp_path / name), "FLORA_API_KEY_FILE")
        assert info.value.exit_code == 2
        assert info.value.message.startswith("FLORA_API_KEY_FILE: ")
    (tmp_path / "two").write_text("sk_test_a\n\n")
    assert read_key_file(str(tmp_path / "two"), "x") == "sk_test_a\n"  # one newline only


@pytest.mark.parametrize(("key", "shown"), [
    ("sk_live_0123456789abcdefa1b2", "sk_live_…a1b2"),
    ("sk_test_0123456789abcdefa1b2", "sk_test_…a1b2"),
    ("sk_test_short", "sk_test_…"),
    ("0123456789abcdef0123", "…0123"),
    ("", ""),
])
def test_mask(key: str, shown: str) -> None:
    assert mask(key) == shown


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=0,
               max_size=60))
def test_mask_never_shows_more_than_four(rest: str) -> None:
    key = "sk_live_" + rest
    shown = mask(key)
    assert shown.startswith("sk_live_…")
    assert len(shown) <= len("sk_live_…") + 4
    if len(rest) >= 5:
        assert rest not in shown


# -- headers -----------------------------------------------------------------------------------

def test_headers_env_then_flags() -> None:
    env = {"FLORA_CUSTOM_HEADERS": "X-Team: growth\n\nX-Trace:  abc \nx-team: ops"}
    assert custom_headers([], env) == (("x-team", "ops"), ("X-Trace", "abc"))
    assert custom_headers(["X-Trace: flag"], env) == (("x-team", "ops"), ("X-Trace", "flag"))


@pytest.mark.parametrize("line", ["Authorization: Bearer x", "idempotency-key: 1",
                                  "Content-Type: text/plain", "HOST: evil", "no colon",
                                  ": empty name", "Bad Name: v", "X-A: line\rbreak",
                                  "X-A: caf\u00e9"])
def test_bad_headers_refused(line: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_header(line, "--header")
    assert info.value.exit_code == 2
    assert info.value.message.startswith("--header: ")

"""Precedence flag > environment > profile > default for every setting, the profile choice,
and the rules that tie the key to the transport (--insecure-http)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flora_cli.api.errors import UsageError
from flora_cli.config.errors import UnknownProfileError
from flora_cli.settings import resolve

# setting: (flag name or None, env var, env value, profile TOML value, flag value,
#           expected from flag, from env, from profile, default)
CASES: dict[str, tuple[Any, ...]] = {
    "base_url": ("base_url", "FLORA_BASE_URL", "https://env.example/api/v1",
                 '"https://profile.example/api/v1"', "https://flag.example/api/v1",
                 "https://flag.example/api/v1", "https://env.example/api/v1",
                 "https://profile.example/api/v1", "https://app.flora.ai/api/v1"),
    "timeout": ("timeout", "FLORA_TIMEOUT", "20", "30", 10.0, 10.0, 20.0, 30.0, 60.0),
    "max_retries": ("max_retries", "FLORA_MAX_RETRIES", "4", "5", 3, 3, 4, 5, 2),
    "format": ("format", "FLORA_FORMAT", "yaml", '"jsonl"', "raw", "raw", "yaml", "jsonl",
               "json"),
    "workspace_id": (None, "FLORA_WORKSPACE_ID", "ws_env", '"ws_profile"', None, None,
                     "ws_env", "ws_profile", None),
    "project_id": (None, "FLORA_PROJECT_ID", "prj_env", '"prj_profile"', None, None,
                   "prj_env", "prj_profile", None),
    "model": (None, "FLORA_MODEL", "m-env", '"m-profile"', None, None, "m-env", "m-profile",
              None),
    "poll_interval": (None, "FLORA_POLL_INTERVAL", "3", "4.5", None, None, 3.0, 4.5, None),
    "ledger": (None, "FLORA_NO_LEDGER", "1", "false", None, None, False, False, True),
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path


def _env(config_dir: Path, **extra: str) -> dict[str, str]:
    return {"FLORA_CONFIG_DIR": str(config_dir), **extra}


def _write(config_dir: Path, text: str) -> None:
    (config_dir / "config.toml").write_text(text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_precedence_of_every_setting(name: str, config_dir: Path) -> None:
    flag, env_name, env_value, toml, flag_value, by_flag, by_env, by_profile, default = CASES[name]
    attr = "format" if name == "format" else name
    _write(config_dir, f'current_profile = "p"\n[profiles.p]\n{name} = {toml}\n')
    env = _env(config_dir, **{env_name: env_value})
    flags = {flag: flag_value} if flag else {}

    def value(flags: dict[str, Any], env: dict[str, str]) -> Any:
        settings = resolve(flags, env, stdout_isatty=False)
        return getattr(settings, attr), settings.sources[name]

    if flag:
        assert value(flags, env) == (by_flag, "flag")
    assert value({}, env) == (by_env, f"env {env_name}")
    assert value({}, _env(config_dir)) == (by_profile, "profile p")
    (config_dir / "config.toml").unlink()
    assert value({}, _env(config_dir)) == (default, "default")


def test_profile_choice(config_dir: Path) -> None:
    _write(config_dir, 'current_profile = "a"\n[profiles.a]\n[profiles.b]\n[profiles.c]\n')
    env = _env(config_dir, FLORA_PROFILE="b")
    assert resolve({"profile": "c"}, env, False).profile == "c"
    assert resolve({}, env, False).profile == "b"
    assert resolve({}, _env(config_dir), False).profile == "a"
    (config_dir / "config.toml").unlink()
    assert resolve({}, _env(config_dir), False).profile == "default"


def test_unknown_profile_lists_the_known_ones(config_dir: Path) -> None:
    _write(config_dir, "[profiles.work]\n[profiles.ci]\n")
    with pytest.raises(UnknownProfileError) as info:
        resolve({"profile": "wrok"}, _env(config_dir), False)
    assert info.value.exit_code == 2
    assert "known profiles: ci, default, work" in info.value.message
    with pytest.raises(UnknownProfileError, match="from FLORA_PROFILE"):
        resolve({}, _env(config_dir, FLORA_PROFILE="nope"), False)
    assert resolve({"profile": "new"}, _env(config_dir), False, new_profile_ok=True).profile \
        == "new"


@pytest.mark.parametrize(("line", "message"), [
    ("timeout = 0", "timeout must be more than 0 seconds"),
    ('timeout = "soon"', "timeout 'soon' is not a number of seconds"),
    ("timeout = true", "timeout must be a whole number or a number or a string"),
    ("max_retries = -1", "max_retries must be at least 0"),
    ("max_retries = 1.5", "max_retries must be a whole number or a string"),
    ('format = "xml"', "format must be one of auto, json"),
    ('workspace_id = "prj_1"', "workspace_id: 'prj_1' must start with 'ws_'"),
    ('project_id = "prj_ x"', "project_id: 'prj_ x' must be 'prj_' followed by"),
    ('model = "has space"', "model: 'has space' must be a model endpoint ID"),
    ("poll_interval = 0.1", "poll_interval: must be at least 0.5 seconds"),
    ('ledger = "maybe"', "ledger must be true or false"),
    ('base_url = "ftp://x"', r"must be an http\(s\) URL"),
    ('base_url = "http://example.com/api/v1"', "plain http:// to a non-loopback host"),
])
def test_profile_values_are_checked_like_flags(config_dir: Path, line: str,
                                               message: str) -> None:
    _write(config_dir, f"[profiles.default]\n{line}\n")
    with pytest.raises(UsageError, match=message) as info:
        resolve({}, _env(config_dir), False)
    assert info.value.exit_code == 2
    assert str(config_dir / "config.toml") in info.value.message \
        or "base_url" in info.value.message


def test_sandbox_ignores_profile_api_settings(config_dir: Path) -> None:
    _write(config_dir, '[profiles.default]\nbase_url = "https://x.example/api/v1"\n'
                       'workspace_id = "ws_real"\ntimeout = 5\nkey_store = "file"\n')
    (config_dir / "credentials.toml").write_text('[profiles.default]\napi_key = "sk_live_x"\n')
    (config_dir / "credentials.toml").chmod(0o600)
    s = resolve({"sandbox": True}, _env(config_dir), False)
    assert s.base_url == "https://app.flora.ai/api/v1" and s.workspace_id is None
    assert s.api_key is None and s.timeout == 5.0
    s = resolve({}, _env(config_dir), False)
    assert s.api_key == "sk_live_x" and s.api_key_source == "profile default (credentials.toml)"


def test_insecure_http_only_with_a_test_key(config_dir: Path) -> None:
    url = "http://sandbox.ci:4010/api/v1"
    env = _env(config_dir)
    with pytest.raises(UsageError, match="--insecure-http allows it"):
        resolve({"base_url": url, "api_key": "sk_test_x"}, env, False)
    s = resolve({"base_url": url, "api_key": "sk_test_x", "insecure_http": True}, env, False)
    assert s.base_url == url and s.insecure_http
    s = resolve({"base_url": url, "api_key": "sk_test_x"}, {**env, "FLORA_INSECURE_HTTP": "1"},
                False)
    assert s.insecure_http
    for key in ("sk_live_abc", "other"):
        with pytest.raises(UsageError, match="never sent in clear text") as info:
            resolve({"base_url": url, "api_key": key, "insecure_http": True}, env, False)
        assert key not in info.value.message
    # Loopback http needs no flag, for any key.
    assert resolve({"base_url": "http://127.0.0.1:9/api/v1", "api_key": "sk_live_abc"}, env,
                   False).api_key == "sk_live_abc"


def test_key_with_whitespace_inside_names_its_source(config_dir: Path) -> None:
    with pytest.raises(UsageError, match="from FLORA_API_KEY contains whitespace") as info:
        resolve({}, _env(config_dir, FLORA_API_KEY="sk_test_a b"), False)
    assert "sk_test_a" not in info.value.message


def test_headers_reach_settings(config_dir: Path) -> None:
    s = resolve({"header": ("X-A: 1",)}, _env(config_dir, FLORA_CUSTOM_HEADERS="X-B: 2"), False)
    assert s.headers == (("X-B", "2"), ("X-A", "1"))
    with pytest.raises(UsageError, match="Authorization header is set by flora"):
        resolve({"header": ("Authorization: Basic x",)}, _env(config_dir), False)

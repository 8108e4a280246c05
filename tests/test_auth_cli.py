"""`flora auth …` and `flora config …` end to end: the real sandbox over a socket, real files
in the isolated config dir, and real keyring backends chosen through keyring's own
configuration (PYTHON_KEYRING_BACKEND)."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, Outcome, run, run_process
from tests.scripted_server import Reply, scripted

ROOT = Path(__file__).resolve().parent.parent
#: The key these tests log in with. `auth token` prints it, so it is not the helpers' SECRET
#: (whose absence every run checks); the tests that must not show it check by hand.
KEY = "sk_test_login0123456789wxyz"


def hidden(out: Outcome) -> Outcome:
    assert KEY not in out.stdout + out.stderr
    return out


@pytest.fixture
def cfg() -> Path:
    return Path(os.environ["FLORA_CONFIG_DIR"])


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working keyring: tests.keyring_backends.JsonFileKeyring, selected the way a user
    selects a backend (PYTHON_KEYRING_BACKEND), for this process and its subprocesses."""
    import keyring.core

    store = tmp_path / "keyring.json"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backends.JsonFileKeyring")
    monkeypatch.setenv("FLORA_TEST_KEYRING_FILE", str(store))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    keyring.core.init_backend()
    yield store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _login(sandbox: RunningSandbox, *extra: str, key: str = KEY,
           profile: str = "sb") -> Any:
    return hidden(run(["auth", "login", "--profile", profile, "--base-url", sandbox.base_url,
                       "--with-key", *extra], input=key + "\n"))


# -- login -------------------------------------------------------------------------------------

def test_login_stores_a_checked_key_in_a_0600_file(sandbox: RunningSandbox, cfg: Path) -> None:
    out = _login(sandbox)
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert doc["profile"] == "sb" and doc["stored_in"] == "file"
    assert doc["key"] == "sk_test_…wxyz"
    assert [w["workspace_id"] for w in doc["workspaces"]] == ["ws_sandbox", "ws_broke"]
    creds = cfg / "credentials.toml"
    assert _mode(creds) == 0o600 and _mode(cfg) == 0o700
    assert KEY in creds.read_text()
    config = (cfg / "config.toml").read_text()
    assert f'base_url = "{sandbox.base_url}"' in config and 'key_store = "file"' in config
    assert "no usable keyring backend" in out.stderr
    # The profile alone is enough for a run.
    run(["config", "set", "workspace_id", "ws_sandbox", "--profile", "sb"])
    run(["config", "set", "project_id", "prj_sandbox", "--profile", "sb"])
    started = run(["--profile", "sb", "generations", "create", "--type", "image",
                   "--prompt", "a mug"])
    assert started.exit_code == 0, started.stderr
    assert started.json()["run_id"].startswith("run_")


def test_refused_key_stores_nothing(sandbox: RunningSandbox, cfg: Path) -> None:
    out = _login(sandbox, key="sk_live_notasandboxkey0000")
    assert out.exit_code == 4
    assert out.error()["error"]["code"] == "invalid_api_key"
    assert "Nothing was stored" in out.stderr
    assert list(cfg.iterdir()) == []
    # And an existing config is left byte for byte.
    (cfg / "config.toml").write_text("# mine\n[profiles.sb]\ntimeout = 9\n")
    before = (cfg / "config.toml").read_bytes()
    assert _login(sandbox, key="sk_live_notasandboxkey0000").exit_code == 4
    assert (cfg / "config.toml").read_bytes() == before
    assert not (cfg / "credentials.toml").exists()


def test_login_input_errors(sandbox: RunningSandbox, cfg: Path) -> None:
    assert _login(sandbox, key="").exit_code == 2
    out = _login(sandbox, key="sk_test_has space")
    assert out.exit_code == 2 and "from stdin (--with-key) contains whitespace" in out.stderr
    out = run(["auth", "login", "--base-url", sandbox.base_url])  # stdin is not a terminal
    assert out.exit_code == 2 and "--with-key" in out.stderr
    out = run(["--sandbox", "auth", "login", "--with-key"], input=SECRET)
    assert out.exit_code == 2 and "needs no login" in out.stderr
    assert list(cfg.iterdir()) == []


def test_single_workspace_becomes_the_profile_default(cfg: Path) -> None:
    one = {"workspaces": [{"workspace_id": "ws_only", "name": "Only", "created_at": None,
                           "role": "owner"}]}
    with scripted(Reply(200, one)) as server:
        out = hidden(run(["auth", "login", "--base-url", server.base_url, "--with-key"],
                         input=KEY))
        assert out.exit_code == 0, out.stderr
        assert server.requests[0].path.endswith("/workspaces")
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert out.json()["workspace_id"] == "ws_only"
    assert 'workspace_id = "ws_only"' in (cfg / "config.toml").read_text()


def test_keyring_login_status_token_logout(sandbox: RunningSandbox, cfg: Path,
                                           keyring_file: Path) -> None:
    out = _login(sandbox)
    assert out.exit_code == 0, out.stderr
    assert out.json()["stored_in"] == "keyring"
    assert json.loads(keyring_file.read_text()) == {"flora-cli": {"sb": KEY}}
    assert not (cfg / "credentials.toml").exists()
    assert 'key_store = "keyring"' in (cfg / "config.toml").read_text()

    status = hidden(run(["--profile", "sb", "auth", "status"]))
    assert status.exit_code == 0, status.stderr
    row = status.json()["profiles"][0]
    assert row["works"] and row["stored_in"] == "keyring"
    assert row["key_source"] == "profile sb (keyring)" and row["workspaces"] == 2

    # Another process reads the same keyring through keyring's configuration.
    token = run_process(["--profile", "sb", "auth", "token"])
    assert token.exit_code == 0 and token.stdout == KEY + "\n"

    out = run(["--profile", "sb", "auth", "logout"])
    assert out.exit_code == 0 and "removed from keyring" in out.stderr
    assert json.loads(keyring_file.read_text()) == {"flora-cli": {}}
    assert run(["--profile", "sb", "auth", "token"]).exit_code == 4
    assert "key_store" not in (cfg / "config.toml").read_text()


def test_insecure_storage_forces_the_file(sandbox: RunningSandbox, cfg: Path,
                                          keyring_file: Path) -> None:
    out = _login(sandbox, "--insecure-storage")
    assert out.exit_code == 0 and out.json()["stored_in"] == "file"
    assert not keyring_file.exists()
    assert _mode(cfg / "credentials.toml") == 0o600


def test_keyring_failing_at_read_time(sandbox: RunningSandbox, cfg: Path,
                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import keyring.core

    (cfg / "config.toml").write_text(f'[profiles.sb]\nbase_url = "{sandbox.base_url}"\n'
                                     'key_store = "keyring"\n')
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backends.LockedKeyring")
    monkeypatch.setenv("FLORA_TEST_KEYRING_FILE", str(tmp_path / "k.json"))
    keyring.core.init_backend()
    out = run(["--profile", "sb", "auth", "token"])
    assert out.exit_code == 4
    assert out.stderr.count("the keyring could not be read: KeyringLocked") == 1
    creds = cfg / "credentials.toml"
    creds.write_text(f'[profiles.sb]\napi_key = "{KEY}"\n')
    creds.chmod(0o600)
    out = run(["--profile", "sb", "auth", "token"])
    assert out.exit_code == 0 and out.stdout == KEY + "\n"
    assert out.stderr.count("KeyringLocked") == 1


# -- status, token, logout ---------------------------------------------------------------------

def test_status_reports_a_refused_key_and_env_override(sandbox: RunningSandbox,
                                                       cfg: Path) -> None:
    assert _login(sandbox).exit_code == 0
    creds = cfg / "credentials.toml"
    creds.write_text(creds.read_text().replace(KEY, "sk_live_revoked0000000000001"))
    out = run(["--profile", "sb", "auth", "status"])
    assert out.exit_code == 4
    assert "sk_live_revoked" not in out.stdout + out.stderr
    row = out.json()["profiles"][0]
    assert row["key"] == "sk_live_…0001" and not row["works"]
    assert row["error"]["code"] == "invalid_api_key"
    # The environment wins, and status says so.
    out = run(["--profile", "sb", "--format", "pretty", "auth", "status"],
              env={"FLORA_API_KEY": SECRET})
    assert out.exit_code == 0, out.stderr
    assert "from FLORA_API_KEY works" in out.stdout
    assert "is not used: FLORA_API_KEY wins" in out.stdout


def test_status_without_any_key(cfg: Path) -> None:
    out = run(["auth", "status"])
    assert out.exit_code == 4
    assert out.error()["error"]["code"] == "missing_api_key"
    assert "flora auth login" in out.stderr


def test_sandbox_status_explains_its_own_key(cfg: Path) -> None:
    out = run(["--sandbox", "auth", "status"])
    assert out.exit_code == 0
    assert "own built-in sk_test_ key" in out.json()["note"]
    assert out.json()["sandbox"] is True
    out = run(["--sandbox", "--format", "pretty", "auth", "status"])
    assert out.exit_code == 0 and "own built-in sk_test_ key" in out.stdout


def test_token_uses_the_winning_source(tmp_path: Path) -> None:
    key_file = tmp_path / "secret"
    key_file.write_text(KEY + "\n")
    assert run(["auth", "token"], env={"FLORA_API_KEY_FILE": str(key_file)}).stdout \
        == KEY + "\n"
    assert run(["--api-key-file", str(key_file), "auth", "token"],
               env={"FLORA_API_KEY": "sk_test_other"}).stdout == KEY + "\n"
    out = run(["auth", "token"], env={"FLORA_API_KEY_FILE": str(tmp_path)})
    assert out.exit_code == 2 and "is a directory" in out.stderr


def test_logout_without_a_key_is_quiet_success(cfg: Path) -> None:
    out = run(["auth", "logout"])
    assert out.exit_code == 0 and "had no stored key" in out.stderr


def test_group_readable_credentials_refused_on_every_path(sandbox: RunningSandbox,
                                                          cfg: Path) -> None:
    assert _login(sandbox).exit_code == 0
    creds = cfg / "credentials.toml"
    creds.chmod(0o644)
    for args in (["auth", "token"], ["config", "list"], ["auth", "status"],
                 ["generations", "create", "--type", "image", "--prompt", "p",
                  "--workspace-id", "ws_sandbox", "--project-id", "prj_sandbox"]):
        out = run(["--profile", "sb", *args])
        assert out.exit_code == 4, args
        assert f"chmod 600 {creds}" in out.stderr
        assert out.error()["error"]["code"] == "insecure_credentials_file"


# -- key sources and headers over the wire -----------------------------------------------------

def test_key_file_and_headers_reach_the_server(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET + "\n")
    ws: dict[str, list[Any]] = {"workspaces": []}
    with scripted(Reply(200, ws), Reply(200, ws)) as server:
        out = run(["--api-key-file", str(key_file), "--header", "X-Team: growth",
                   "--base-url", server.base_url, "workspaces", "list", "--debug"],
                  env={"FLORA_CUSTOM_HEADERS": "X-Trace: abc\nX-Team: env\nX-Api-Secret: s3"})
        assert out.exit_code == 0, out.stderr
        sent = server.requests[0].headers
        assert sent["authorization"] == f"Bearer {SECRET}"
        assert sent["x-team"] == "growth" and sent["x-trace"] == "abc"
        assert "s3" not in out.stderr  # a header named like a secret is redacted in --debug
    out = run(["--header", "Host: evil", "--api-key", SECRET, "workspaces", "list"])
    assert out.exit_code == 2 and "Host header is set by flora" in out.stderr


# -- config commands ---------------------------------------------------------------------------

def test_config_set_get_unset_path(cfg: Path) -> None:
    assert run(["config", "set", "timeout", "120"]).exit_code == 0
    assert run(["config", "set", "ledger", "off", "--profile", "ci"]).exit_code == 0
    text = (cfg / "config.toml").read_text()
    assert "[profiles.default]\ntimeout = 120\n" in text and "ledger = false" in text
    assert run(["config", "get", "timeout"]).stdout == "120.0\n"
    assert run(["config", "get", "ledger", "--profile", "ci"]).stdout == "false\n"
    assert run(["config", "get", "model"]).stdout == ""
    assert run(["config", "get", "timeout", "--json"]).json() == {
        "key": "timeout", "value": 120.0, "source": "profile default"}
    assert run(["config", "get", "timeout"], env={"FLORA_TIMEOUT": "7"}).stdout == "7.0\n"
    before = (cfg / "config.toml").read_bytes()
    for args, message in [(["timeout", "0"], "timeout must be more than 0"),
                          (["workspace_id", "prj_x"], "must start with 'ws_'"),
                          (["base_url", "http://example.com"], "plain http://"),
                          (["format", "xml"], "format must be one of"),
                          (["api_key", "sk_test_x"], "flora auth login"),
                          (["timout", "3"], "did you mean 'timeout'"),
                          (["current_profile", "nope"], "known profiles: ci, default")]:
        out = run(["config", "set", *args])
        assert out.exit_code == 2, args
        assert message in out.stderr, (args, out.stderr)
    assert (cfg / "config.toml").read_bytes() == before
    assert run(["config", "set", "current_profile", "ci"]).exit_code == 0
    assert run(["config", "get", "profile"]).stdout == "ci\n"
    assert run(["config", "unset", "ledger"]).exit_code == 0
    assert "ledger" not in (cfg / "config.toml").read_text()
    assert "was not set" in run(["config", "unset", "ledger"]).stderr
    assert run(["config", "path"]).stdout == f"{cfg / 'config.toml'}\n{cfg / 'credentials.toml'}\n"


def test_config_list_sources_and_masked_key(cfg: Path) -> None:
    (cfg / "config.toml").write_text('[profiles.default]\nmodel = "m-1"\ncolour = "red"\n')
    out = run(["config", "list", "--timeout", "9"],
              env={"FLORA_API_KEY": SECRET, "FLORA_WORKSPACE_ID": "ws_env"})
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert doc["api_key"] == {"value": "sk_test_…6789", "source": "env FLORA_API_KEY"}
    assert doc["timeout"] == {"value": 9.0, "source": "flag"}
    assert doc["workspace_id"] == {"value": "ws_env", "source": "env FLORA_WORKSPACE_ID"}
    assert doc["model"] == {"value": "m-1", "source": "profile default"}
    assert doc["max_retries"] == {"value": 2, "source": "default"}
    assert out.stderr.count("warning:") == 1 and "'colour'" in out.stderr


def test_malformed_config_is_exit_2_with_position(cfg: Path) -> None:
    (cfg / "config.toml").write_text("[profiles.default]\ntimeout = \n")
    for args in (["config", "list"], ["config", "set", "timeout", "3"],
                 ["generations", "create", "--dry-run", "--type", "image", "--prompt", "p"]):
        out = run(args, env={"FLORA_API_KEY": SECRET})
        assert out.exit_code == 2, args
        assert f"{cfg / 'config.toml'}:2:" in out.stderr
    assert (cfg / "config.toml").read_text() == "[profiles.default]\ntimeout = \n"


def test_bad_value_in_file_can_be_fixed_with_config_set(cfg: Path) -> None:
    (cfg / "config.toml").write_text("# keep me\n[profiles.default]\ntimeout = -1\n")
    assert run(["config", "list"]).exit_code == 2
    assert run(["config", "set", "timeout", "5"]).exit_code == 0
    assert run(["config", "list"]).exit_code == 0
    assert (cfg / "config.toml").read_text().startswith("# keep me\n")


def test_profile_fills_the_request(cfg: Path) -> None:
    (cfg / "config.toml").write_text('[profiles.p]\nworkspace_id = "ws_p"\n'
                                     'project_id = "prj_p"\nmodel = "m-p"\n')
    out = run(["--profile", "p", "generations", "create", "--dry-run", "--json", "--type",
               "image", "--prompt", "x"], env={"FLORA_API_KEY": SECRET,
                                                "FLORA_PROJECT_ID": "prj_env"})
    assert out.exit_code == 0, out.stderr
    body = out.json()["body"]
    assert (body["workspace_id"], body["project_id"], body["model"]) == ("ws_p", "prj_env", "m-p")
    out = run(["--profile", "p", "generations", "create", "--dry-run", "--json", "--type",
               "image", "--prompt", "x", "--workspace-id", "ws_flag"],
              env={"FLORA_API_KEY": SECRET})
    assert out.json()["body"]["workspace_id"] == "ws_flag"


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_hidden_prompt_and_token_on_a_terminal(sandbox: RunningSandbox, cfg: Path) -> None:
    """A real pseudo-terminal: the key typed at the prompt is not echoed; `auth token` will
    not print to a terminal without --show."""
    import pty
    import select
    import subprocess
    import time

    def on_tty(args: list[str], typed: bytes = b"") -> tuple[int, bytes]:
        main_fd, child_fd = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "flora_cli", *args], stdin=child_fd,
                                stdout=child_fd, stderr=child_fd, env=os.environ.copy(),
                                close_fds=True)
        os.close(child_fd)
        seen, sent, deadline = b"", False, time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main_fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            if typed and not sent and b"input is hidden" in seen:
                os.write(main_fd, typed)
                sent = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=30)
        os.close(main_fd)
        return code, seen

    code, screen = on_tty(["auth", "login", "--base-url", sandbox.base_url],
                          KEY.encode() + b"\r")
    assert code == 0, screen
    assert b"input is hidden" in screen and KEY.encode() not in screen
    assert KEY in (cfg / "credentials.toml").read_text()
    code, screen = on_tty(["--base-url", sandbox.base_url, "auth", "token"])
    assert code == 2 and b"refusing to print the API key to a terminal" in screen
    assert KEY.encode() not in screen


def test_profile_names_complete(cfg: Path) -> None:
    (cfg / "config.toml").write_text("[profiles.work]\n[profiles.ci]\n[profiles.wide]\n")
    out = run_process(["config", "list", "--profile", "w"], env={
        "_FLORA_COMPLETE": "bash_complete", "COMP_WORDS": "flora config list --profile w",
        "COMP_CWORD": "4"})
    assert out.exit_code == 0
    assert [line.split(",")[-1] for line in out.stdout.split()] == ["wide", "work"]

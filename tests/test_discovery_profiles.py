"""Discovery with profiles (SPEC §10): the profile's key, base URL, workspace and model feed
`projects list`, the pre-spend check and ID completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, run
from tests.test_completion import _env


@pytest.fixture
def profile(sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default profile: the sandbox's base URL and a stored key (credentials file)."""
    monkeypatch.setenv("FLORA_CACHE_DIR", str(tmp_path / "cache"))
    out = run(["--base-url", sandbox.base_url, "auth", "login", "--with-key",
               "--insecure-storage"], input=SECRET + "\n")
    assert out.exit_code == 0, out.stderr
    assert run(["config", "set", "base_url", sandbox.base_url]).exit_code == 0


def config_set(key: str, value: str) -> None:
    out = run(["config", "set", key, value])
    assert out.exit_code == 0, out.stderr


def test_projects_of_the_profile_workspace(profile: None) -> None:
    config_set("workspace_id", "ws_broke")
    out = run(["projects", "list", "--json"])
    assert out.exit_code == 0, out.stderr
    assert [p["project_id"] for p in out.json()["projects"]] == ["prj_broke"]
    # the flag, then the environment, win over the profile
    flag = run(["projects", "list", "--workspace-id", "ws_sandbox", "--json"])
    assert len(flag.json()["projects"]) == 20
    env = run(["projects", "list", "--json"], env={"FLORA_WORKSPACE_ID": "ws_sandbox"})
    assert len(env.json()["projects"]) == 20


def test_the_profile_model_is_checked(profile: None, sandbox: RunningSandbox) -> None:
    config_set("model", "t2v-kling-2-1")
    out = run(["generations", "create", "--workspace-id", "ws_sandbox", "--project-id",
               "prj_sandbox", "--type", "video", "--prompt", "x", "--param", "duration=7",
               "--json"])
    assert out.exit_code == 2
    assert "--param duration=7: t2v-kling-2-1 accepts 5 or 10" in out.stderr
    assert sandbox.state.runs == {}


def _complete(words: str, cword: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "flora_cli"],
                          env=_env(_FLORA_COMPLETE="bash_complete", COMP_WORDS=words,
                                   COMP_CWORD=cword),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if line]


def test_completion_with_the_profile_key_workspace_and_model(profile: None) -> None:
    assert "FLORA_API_KEY" not in os.environ
    config_set("workspace_id", "ws_broke")
    config_set("model", "tts-eleven-v3")
    assert _complete("flora runs start-generation --workspace-id ", "4") == [
        "ws_sandbox", "ws_broke"]
    assert _complete("flora runs start-generation --project-id ", "4") == ["prj_broke"]
    assert _complete("flora runs start-generation --param ", "4") == [
        "voice=", "stability=", "speed="]
    cache_files = list(Path(os.environ["FLORA_CACHE_DIR"]).rglob("*.json"))
    assert cache_files
    for path in cache_files:
        assert SECRET not in path.read_text()
        json.loads(path.read_text())

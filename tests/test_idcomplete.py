"""Completion of IDs (SPEC §11) in real bash, with a warm and a cold cache.

The scripts call `flora` back, so the venv's bin/ is put first on PATH (as in
test_completion.py). A scripted server that records requests shows when a TAB costs none.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from flora_cli import cache
from flora_cli.sandbox.seed import MODEL_DOCS
from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET
from tests.pty_shell import pty_shell, screen_line
from tests.scripted_server import Reply, scripted
from tests.test_completion import COMPLETIONS, FILES, _env, complete

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")

MODELS_DOC = {"models": list(MODEL_DOCS.values())}


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("FLORA_CACHE_DIR", str(path))
    return path


def account_env(base_url: str, **extra: str) -> dict[str, str]:
    return {"FLORA_BASE_URL": base_url, "FLORA_API_KEY": SECRET, **extra}


def bash_tab(words: list[str], env: dict[str, str]) -> tuple[list[str], float]:
    """COMPREPLY of the completion function in bash for `words`, and its wall time."""
    script = "\n".join([
        f"source {shlex.quote(str(COMPLETIONS / FILES['bash']))}",
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
        f"COMP_CWORD={len(words) - 1}",
        "COMPREPLY=()",
        "_flora_completion flora 2>/dev/null",
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    started = time.monotonic()
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=_env(**env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    return [x for x in proc.stdout.splitlines() if x], elapsed


START = ["flora", "runs", "start-generation"]


# --- cold cache: one request, then the cache answers -----------------------------------------


def test_cold_then_warm_model_completion(sandbox: RunningSandbox, cache_dir: Path) -> None:
    env = account_env(sandbox.base_url)
    cold, _ = bash_tab([*START, "--type", "video", "--model", ""], env)
    assert cold == ["t2v-kling-2-1", "t2v-veo-3"]
    files = list(cache_dir.rglob("*.json"))
    assert [f.name for f in files] == ["models.json"]
    assert SECRET not in files[0].read_text() and SECRET not in str(files[0])
    # Warm: the same answer from the cache, even with the API gone.
    warm, _ = bash_tab([*START, "--type", "video", "--model", ""],
                       account_env(sandbox.base_url))
    assert warm == cold


@pytest.mark.parametrize(("media_type", "expected"), [
    ("image", ["t2i-flux-2-pro", "t2i-imagen-4", "i2i-flux-kontext"]),
    ("audio", ["tts-eleven-v3", "t2a-stable-audio-2"]),
    ("TEXT", ["llm-gpt-5-mini", "llm-claude-sonnet-4-5"]),
    (None, list(MODEL_DOCS)),
])
def test_model_completion_follows_the_type_on_the_line(
    sandbox: RunningSandbox, cache_dir: Path, media_type: str | None, expected: list[str]
) -> None:
    words = [*START, *(["--type", media_type] if media_type else []), "--model", ""]
    assert bash_tab(words, account_env(sandbox.base_url))[0] == expected


def test_model_prefix_and_models_get(sandbox: RunningSandbox, cache_dir: Path) -> None:
    env = account_env(sandbox.base_url)
    assert bash_tab([*START, "--model", "t2i"], env)[0] == ["t2i-flux-2-pro", "t2i-imagen-4"]
    assert bash_tab(["flora", "models", "get", "llm-c"], env)[0] == ["llm-claude-sonnet-4-5"]


def test_workspace_and_project_completion(sandbox: RunningSandbox, cache_dir: Path) -> None:
    env = account_env(sandbox.base_url)
    assert bash_tab([*START, "--workspace-id", ""], env)[0] == ["ws_sandbox", "ws_broke"]
    assert bash_tab(["flora", "projects", "list", "--workspace-id", "ws_b"], env)[0] == [
        "ws_broke"]
    projects, _ = bash_tab([*START, "--workspace-id", "ws_sandbox", "--project-id", ""], env)
    assert len(projects) == 24 and projects[0] == "prj_sandbox"
    # the workspace from the environment when the line has none
    broke, _ = bash_tab([*START, "--project-id", ""], {**env, "FLORA_WORKSPACE_ID": "ws_broke"})
    assert broke == ["prj_broke"]
    # no workspace anywhere: nothing, and nothing asked
    assert bash_tab([*START, "--project-id", ""], env)[0] == []


def test_param_keys_then_values(sandbox: RunningSandbox, cache_dir: Path) -> None:
    env = account_env(sandbox.base_url)
    line = [*START, "--type", "video", "--model", "t2v-kling-2-1", "--param"]
    assert bash_tab([*line, ""], env)[0] == ["duration=", "aspect_ratio=", "negative_prompt=",
                                             "cfg_scale="]
    assert bash_tab([*line, "asp"], env)[0] == ["aspect_ratio="]
    # bash splits `duration=` at the `=`: the values complete after it
    assert bash_tab([*line, "duration", "=", ""], env)[0] == ["5", "10"]
    assert bash_tab([*line, "aspect_ratio", "=", "16"], env)[0] == ["16:9"]
    veo = [*START, "--model", "t2v-veo-3", "--param", "generate_audio", "=", ""]
    assert bash_tab(veo, env)[0] == ["true", "false"]
    # no model on the line: no keys
    assert bash_tab([*START, "--param", ""], env)[0] == []


@pytest.mark.parametrize(("shell", "words", "cword", "expected"), [
    ("zsh", "flora runs start-generation --model t2v-kling-2-1 --param du", "6",
     ["plain", "duration=", "_"]),
    ("zsh", "flora runs start-generation --model t2v-kling-2-1 --param duration=1", "6",
     ["plain", "duration=10", "_"]),
    ("fish", "flora runs start-generation --model t2v-kling-2-1 --param du", "du",
     ["plain,duration="]),
    ("fish", "flora runs start-generation --type audio --model t", "t",
     ["plain,tts-eleven-v3\tEleven v3", "plain,t2a-stable-audio-2\tStable Audio 2"]),
])
def test_zsh_and_fish_protocol(sandbox: RunningSandbox, cache_dir: Path, shell: str,
                               words: str, cword: str, expected: list[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    # zsh and fish are not always installed: what their scripts ask flora is checked here.
    for name, value in account_env(sandbox.base_url).items():
        monkeypatch.setenv(name, value)
    answer, _ = complete(shell, words, cword)
    assert answer == expected


# --- warm cache: no request, no httpx --------------------------------------------------------


def test_a_cached_model_tab_costs_no_request_and_no_httpx(cache_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with scripted() as server:  # answers nothing useful: any request would be recorded
        cache.write(server.base_url, SECRET, "models", MODELS_DOC)
        for name, value in account_env(server.base_url).items():
            monkeypatch.setenv(name, value)
        answer, heavy = complete("bash", "flora runs start-generation --type video --model ",
                                 "6")
        assert answer == ["plain,t2v-kling-2-1", "plain,t2v-veo-3"]
        assert heavy == []
        assert server.requests == []
        # and the same TAB with the cache gone does ask (so the check above can fail)
        shutil.rmtree(cache_dir)
        answer, heavy = complete("bash", "flora runs start-generation --type video --model ",
                                 "6")
        assert [x for x in answer if x] == [] and "h11" in heavy  # the client's wire
        assert [r.path for r in server.requests] == ["/api/v1/models"]


def test_an_expired_cache_is_fetched_again(sandbox: RunningSandbox, cache_dir: Path) -> None:
    stale = {"models": [{**MODEL_DOCS["t2v-veo-3"], "model_id": "t2v-old"}]}
    cache.write(sandbox.base_url, SECRET, "models", stale)
    path = next(cache_dir.rglob("models.json"))
    entry = json.loads(path.read_text())
    entry["saved_at"] -= cache.TTL_SECONDS + 1
    path.write_text(json.dumps(entry))
    assert bash_tab([*START, "--type", "video", "--model", ""],
                    account_env(sandbox.base_url))[0] == ["t2v-kling-2-1", "t2v-veo-3"]


def test_the_cache_is_per_key(sandbox: RunningSandbox, cache_dir: Path) -> None:
    cache.write(sandbox.base_url, "sk_test_someone_else", "models",
                {"models": [{**MODEL_DOCS["t2v-veo-3"], "model_id": "t2v-theirs"}]})
    answer, _ = bash_tab([*START, "--type", "video", "--model", ""],
                         account_env(sandbox.base_url))
    assert answer == ["t2v-kling-2-1", "t2v-veo-3"]


# --- failures are silent and bounded ---------------------------------------------------------


def test_no_api_gives_nothing_silently(cache_dir: Path) -> None:
    # a port nobody listens on
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = account_env(f"http://127.0.0.1:{port}/api/v1")
    proc = subprocess.run(["flora"], env=_env(**env, _FLORA_COMPLETE="bash_complete",
                                              COMP_WORDS="flora runs start-generation --model ",
                                              COMP_CWORD="4"),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stdout.strip() == "" and proc.stderr == ""


@pytest.mark.parametrize("reply", [
    Reply(401, {"error": {"code": "invalid_api_key", "message": "no"}}),
    Reply(200, {"models": "broken"}),
    Reply(200, b"not json"),
])
def test_a_bad_answer_gives_nothing_and_is_not_cached(cache_dir: Path, reply: Reply) -> None:
    with scripted(reply) as server:
        answer, _ = bash_tab([*START, "--model", ""], account_env(server.base_url))
        assert answer == []
        assert list(cache_dir.rglob("*.json")) == []


def test_a_slow_api_is_cut_at_the_budget(cache_dir: Path) -> None:
    gate = threading.Event()
    with scripted(Reply(200, MODELS_DOC, gate=gate)) as server:
        try:
            answer, elapsed = bash_tab([*START, "--model", ""], account_env(server.base_url))
        finally:
            gate.set()
        assert answer == []
        # 1.5 s budget plus start-up of bash and Python on a loaded machine; the server
        # would have held the answer for 30 s.
        assert elapsed < 10, elapsed


def test_no_key_asks_nothing(cache_dir: Path) -> None:
    with scripted() as server:
        answer, _ = bash_tab([*START, "--model", ""], {"FLORA_BASE_URL": server.base_url})
        assert answer == [] and server.requests == []


# --- an interactive bash on a terminal --------------------------------------------------------


def test_tab_in_an_interactive_bash(sandbox: RunningSandbox, cache_dir: Path) -> None:
    cache.write(sandbox.base_url, SECRET, "models", MODELS_DOC)
    env = _env(**account_env(sandbox.base_url), TERM="dumb", PS1="READY$ ",
               FLORA_CACHE_DIR=str(cache_dir))
    with pty_shell(["bash", "--norc", "--noprofile", "-i"], env) as shell:
        shell.send(f"source {shlex.quote(str(COMPLETIONS / FILES['bash']))}; bind 'set "
                   "bell-style none'\n", b"READY$ ")
        # one candidate: bash completes it in place
        shown = shell.send("flora runs start-generation --type video --model t2v-k\t",
                           b"t2v-kling-2-1 ")
        assert "t2v-kling-2-1 " in shown, shown
        # `--param du` completes to `duration=` with no space after it
        shown = shell.send("--param du\t", b"duration=")
        shown += shell.send("Q", b"Q")
        assert screen_line(shown).endswith("--param duration=Q"), repr(shown)


# --- fish and zsh, for real (where installed) -------------------------------------------------


def fish_complete(line: str, env: dict[str, str]) -> list[str]:
    script = (f"source {shlex.quote(str(COMPLETIONS / FILES['fish']))}; "
              f"complete -C {shlex.quote(line)}")
    proc = subprocess.run(["fish", "--no-config", "-c", script], env=_env(**env),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return [x.split("\t")[0] for x in proc.stdout.splitlines()]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_fish_completes_ids(sandbox: RunningSandbox, cache_dir: Path, warm: bool) -> None:
    if warm:
        cache.write(sandbox.base_url, SECRET, "models", MODELS_DOC)
    env = account_env(sandbox.base_url)
    models = fish_complete("flora runs start-generation --type video --model ", env)
    assert sorted(models) == ["t2v-kling-2-1", "t2v-veo-3"]
    assert fish_complete("flora generations create --model t2v-kling-2-1 --param du", env) == [
        "duration="]
    assert sorted(fish_complete("flora generations create --model t2v-kling-2-1 --param "
                                "duration=", env)) == ["duration=10", "duration=5"]
    assert fish_complete("flora projects list --workspace-id ws_b", env) == ["ws_broke"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_zsh_completes_ids_on_a_terminal(sandbox: RunningSandbox, cache_dir: Path,
                                         warm: bool) -> None:
    if warm:
        cache.write(sandbox.base_url, SECRET, "models", MODELS_DOC)
    env = _env(**account_env(sandbox.base_url), TERM="dumb", FLORA_CACHE_DIR=str(cache_dir))
    with pty_shell(["zsh", "-f", "-i"], env) as shell:
        shell.send(f"fpath=({COMPLETIONS} $fpath); autoload -Uz compinit; compinit -u; "
                   "PS1=READY\n", b"READY")
        # one candidate: inserted with a space after it (the Z shows where the cursor is)
        shown = shell.send("flora runs start-generation --type video --model t2v-k\t",
                           b"ling-2-1")
        shown += shell.send("Z", b"Z")
        assert screen_line(shown).endswith("--model t2v-kling-2-1 Z"), repr(shown)
        # a second TAB in the same shell works too; KEY= gets no space: the value follows
        shown = shell.send("\x15flora runs start-generation --model t2v-kling-2-1 --param du\t",
                           b"ration=")
        shown += shell.send("Q", b"Q")
        assert screen_line(shown).endswith("--param duration=Q"), repr(shown)


def test_a_miss_sends_what_the_command_would(cache_dir: Path) -> None:
    # the key (to the API's own origin) and the custom headers, like any request of flora
    with scripted(Reply(200, MODELS_DOC)) as server:
        answer, _ = bash_tab([*START, "--type", "text", "--model", ""],
                             account_env(server.base_url, FLORA_CUSTOM_HEADERS="X-Team: blue"))
        assert answer == ["llm-gpt-5-mini", "llm-claude-sonnet-4-5"]
        [request] = server.requests
        assert request.headers["authorization"] == f"Bearer {SECRET}"
        assert request.headers["x-team"] == "blue"


@pytest.mark.parametrize("content", [
    '{"saved_at": NaN, "base_url": "x", "data": {}}',
    "[" * 500 + "]" * 500,
    "\xff not utf-8",
    "{",
])
def test_a_broken_cache_file_is_a_miss(sandbox: RunningSandbox, cache_dir: Path,
                                       content: str) -> None:
    path = cache.path_for(sandbox.base_url, SECRET, "models")
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("latin-1"))
    answer, _ = bash_tab([*START, "--type", "video", "--model", ""],
                         account_env(sandbox.base_url))
    assert answer == ["t2v-kling-2-1", "t2v-veo-3"]  # fetched again, silently

"""The pre-spend check on the start commands, end to end: the sandbox's /models is what it
reads; a scripted server counts the requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from flora_cli.sandbox.seed import MODEL_DOCS
from flora_cli.sandbox.server import RunningSandbox
from tests.cli_helpers import SECRET, run
from tests.scripted_server import RUN_CREATED, Reply, scripted

MODELS_DOC = {"models": list(MODEL_DOCS.values())}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLORA_CACHE_DIR", str(tmp_path / "cache"))


def start(base_url: str, *extra: str, command: tuple[str, ...] = ("runs", "start-generation")
          ) -> list[str]:
    return ["--api-key", SECRET, "--base-url", base_url, "-q", *command, "--project-id",
            "prj_sandbox", "--workspace-id", "ws_sandbox", "--prompt", "a mug", "--json",
            *extra]


@pytest.mark.parametrize(("extra", "message"), [
    (["--type", "video", "--model", "t2v-kling-2-1", "--param", "duration=7"],
     "--param duration=7: t2v-kling-2-1 accepts 5 or 10"),
    (["--type", "image", "--model", "t2i-flux-2-pro", "--params", '{"num_images": 9}'],
     "--params num_images=9: t2i-flux-2-pro accepts an integer from 1 to 4"),
    (["--type", "image", "--model", "t2i-flux-2-pro", "--param", "num_image=2"],
     "--param num_image=2: t2i-flux-2-pro has no parameter num_image; did you mean "
     "num_images?"),
    (["--type", "audio", "--model", "tts-eleven-v3", "--param", "voice=Rachael"],
     "--param voice=Rachael: tts-eleven-v3 accepts Rachel, Adam, Bella or Josh"),
    (["--type", "video", "--model", "t2v-veo-3", "--param", "generate_audio=yes"],
     "--param generate_audio=yes: t2v-veo-3 accepts true or false"),
    (["--type", "image", "--model", "t2i-flux-pro"],
     "--model t2i-flux-pro: no model t2i-flux-pro; did you mean t2i-flux-2-pro"),
    (["--type", "image", "--model", "t2v-kling-2-1"],
     "--model t2v-kling-2-1: t2v-kling-2-1 makes video, not --type image; image models: "
     "t2i-flux-2-pro, t2i-imagen-4, i2i-flux-kontext"),
])
@pytest.mark.parametrize("command", [("runs", "start-generation"), ("generations", "create")])
def test_refused_before_anything_is_spent(sandbox: RunningSandbox, extra: list[str],
                                          message: str, command: tuple[str, ...]) -> None:
    out = run(start(sandbox.base_url, *extra, command=command))
    assert out.exit_code == 2, out.stderr
    assert message in out.stderr
    error = out.error()
    assert error["error"]["code"] == "usage_error"
    assert error["error"]["message"].startswith(message)
    assert sandbox.state.runs == {}


def test_every_problem_is_reported_at_once(sandbox: RunningSandbox) -> None:
    out = run(start(sandbox.base_url, "--type", "video", "--model", "t2v-kling-2-1",
                    "--param", "duration=7", "--param", "cfg_scale=2", "--param", "fps=30"))
    assert out.exit_code == 2
    lines = out.error()["error"]["message"].splitlines()
    assert [x.split(":")[0] for x in lines] == ["--param duration=7", "--param cfg_scale=2",
                                                "--param fps=30"]
    assert "flora models get t2v-kling-2-1" in out.stderr


def test_no_check_lets_the_sandbox_decide_with_the_same_words(sandbox: RunningSandbox) -> None:
    out = run(start(sandbox.base_url, "--type", "video", "--model", "t2v-kling-2-1",
                    "--param", "duration=7", "--no-check"))
    assert out.exit_code == 3, out.stderr
    error = out.error()["error"]
    assert error["code"] == "input_validation_error"
    assert error["fields"] == [{"field": "params.duration",
                                "message": "t2v-kling-2-1 accepts 5 or 10 (received 7)"}]


def test_a_good_request_goes_out(sandbox: RunningSandbox) -> None:
    out = run(start(sandbox.base_url, "--type", "video", "--model", "t2v-kling-2-1",
                    "--param", "duration=10", "--param", "aspect_ratio=16:9"))
    assert out.exit_code == 0, out.stderr
    assert len(sandbox.state.runs) == 1


def test_the_embedded_sandbox_is_checked_too() -> None:
    out = run(["--sandbox", "runs", "start-generation", "--type", "video", "--model",
               "t2v-kling-2-1", "--param", "duration=7", "--prompt", "x", "--json"])
    assert out.exit_code == 2
    assert "t2v-kling-2-1 accepts 5 or 10" in out.stderr


def test_the_model_list_is_read_once_then_cached() -> None:
    with scripted(Reply(200, MODELS_DOC), Reply(201, RUN_CREATED),
                  Reply(201, RUN_CREATED)) as srv:
        args = start(srv.base_url, "--type", "image", "--model", "t2i-flux-2-pro",
                     "--param", "seed=1")
        assert run(args).exit_code == 0
        assert run(args).exit_code == 0
        assert [r.method + " " + r.path for r in srv.requests] == [
            "GET /api/v1/models", "POST /api/v1/runs/generation", "POST /api/v1/runs/generation"]


def test_no_model_no_check() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run(start(srv.base_url, "--type", "image", "--param", "anything=1"))
        assert out.exit_code == 0
        assert [r.path for r in srv.requests] == ["/api/v1/runs/generation"]


@pytest.mark.parametrize("reply", [
    Reply(503, {"error": {"code": "unknown_error", "message": "down"}}),
    Reply(404, {"error": {"code": "not_found", "message": "Not found."}}),
    Reply(200, {"models": [{"model_id": "broken"}]}),
])
def test_one_notice_when_the_list_cannot_be_had(reply: Reply) -> None:
    with scripted(reply, Reply(201, RUN_CREATED)) as srv:
        args = ["--max-retries", "0", *start(srv.base_url, "--type", "image", "--model",
                                             "t2i-flux-2-pro", "--param", "seed=1")]
        args.remove("-q")
        out = run(args)
        assert out.exit_code == 0, out.stderr
        notes = [x for x in out.stderr.splitlines() if x.startswith("note:")]
        assert len(notes) == 1 and "the model list could not be read" in notes[0]
        assert "--no-check" in notes[0]
        assert srv.requests[-1].path == "/api/v1/runs/generation"
        assert out.json()["run_id"] == RUN_CREATED["run_id"]


def test_quiet_silences_the_notice() -> None:
    with scripted(Reply(404, {"error": {"code": "not_found", "message": "x"}}),
                  Reply(201, RUN_CREATED)) as srv:
        out = run(start(srv.base_url, "--type", "image", "--model", "m"))
        assert out.exit_code == 0 and out.stderr == ""


def test_no_check_sends_no_get() -> None:
    with scripted(Reply(201, RUN_CREATED)) as srv:
        out = run(start(srv.base_url, "--type", "image", "--model", "nope", "--no-check"))
        assert out.exit_code == 0
        assert [r.path for r in srv.requests] == ["/api/v1/runs/generation"]


# --- the estimate ------------------------------------------------------------------------------


def test_dry_run_estimate_from_the_cache(sandbox: RunningSandbox) -> None:
    assert run(["--api-key", SECRET, "--base-url", sandbox.base_url, "models", "list",
                "--json"]).exit_code == 0
    out = run(start(sandbox.base_url, "--type", "image", "--model", "t2i-flux-2-pro",
                    "--param", "num_images=3", "--dry-run"))
    assert out.exit_code == 0, out.stderr
    assert out.json()["estimate"] == {"model_id": "t2i-flux-2-pro", "credits": 12,
                                      "seconds": 8}
    one = run(start(sandbox.base_url, "--type", "video", "--model", "t2v-kling-2-1",
                    "--dry-run"))
    assert one.json()["estimate"] == {"model_id": "t2v-kling-2-1", "credits": 50,
                                      "seconds": 60}
    # the dry run checks too
    bad = run(start(sandbox.base_url, "--type", "image", "--model", "t2i-flux-2-pro",
                    "--param", "num_images=9", "--dry-run"))
    assert bad.exit_code == 2


def test_dry_run_sends_nothing_even_for_the_check() -> None:
    with scripted() as srv:
        args = start(srv.base_url, "--type", "image", "--model", "t2i-flux-2-pro", "--dry-run")
        args.remove("-q")
        out = run(args)
        assert out.exit_code == 0, out.stderr
        assert srv.requests == []
        assert out.json()["estimate"] is None
        assert "flora models list" in out.stderr
    no_model = run(start("https://app.flora.ai/api/v1", "--type", "image", "--dry-run"))
    assert no_model.json()["estimate"] is None


def test_pretty_panel_shows_the_estimate(sandbox: RunningSandbox) -> None:
    args = start(sandbox.base_url, "--type", "image", "--model", "t2i-flux-2-pro",
                 "--param", "num_images=2")
    args[args.index("--json")] = "--format=pretty"
    out = run(args)
    assert out.exit_code == 0, out.stderr
    assert "model estimate" in out.stdout and "8 credits" in out.stdout
    assert "about 8 s" in out.stdout

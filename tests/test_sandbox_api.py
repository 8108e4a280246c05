"""The sandbox's endpoints over a real socket: auth, validation, budgets, idempotency, runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from flora_cli.sandbox.server import RunningSandbox


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=10) as c:
        yield c


def body(sandbox: RunningSandbox, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "image",
        "prompt": "a ceramic mug on a sunlit table",
        "workspace_id": sandbox.workspace_id,
        "project_id": sandbox.project_id,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def error_of(response: httpx.Response) -> dict[str, Any]:
    doc = response.json()
    assert set(doc) == {"error"}, doc
    error: dict[str, Any] = doc["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "fields"}
    return error


def wait_for(client: httpx.Client, run_id: str, status: str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = client.get(f"/runs/{run_id}").json()
        if doc["status"] == status or time.monotonic() > deadline:
            assert doc["status"] == status, doc
            return doc
        time.sleep(0.02)


# ----------------------------------------------------------------------------- auth


def test_missing_key_is_unauthorized(sandbox: RunningSandbox) -> None:
    response = httpx.get(f"{sandbox.base_url}/workspaces")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["request-id"].startswith("req_")


@pytest.mark.parametrize("header", ["Bearer sk_live_abc", "Bearer nope", "Basic sk_test_x", ""])
def test_non_test_key_is_invalid(sandbox: RunningSandbox, header: str) -> None:
    response = httpx.get(f"{sandbox.base_url}/workspaces", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_of(response)["code"] == ("unauthorized" if not header else "invalid_api_key")


def test_any_test_key_is_accepted(sandbox: RunningSandbox) -> None:
    headers = {"Authorization": "Bearer sk_test_someone_else"}
    response = httpx.post(f"{sandbox.base_url}/generate", json=body(sandbox), headers=headers)
    assert response.status_code == 201


# ----------------------------------------------------------------------------- listings


def test_workspaces_and_models(client: httpx.Client, sandbox: RunningSandbox) -> None:
    workspaces = client.get("/workspaces").json()["workspaces"]
    assert sandbox.workspace_id in [w["workspace_id"] for w in workspaces]
    assert "ws_broke" in [w["workspace_id"] for w in workspaces]
    models = client.get("/models").json()["models"]
    assert {m["type"] for m in models} == {"image", "video", "audio", "text"}
    for model in models:
        assert model["estimated_seconds"] > 0 and model["params"]
        for param in model["params"]:
            assert {"name", "type", "required"} <= set(param)
    videos = client.get("/models", params={"type": "video"}).json()["models"]
    assert videos and all(m["type"] == "video" for m in videos)
    bad = client.get("/models", params={"type": "t2v"})
    assert bad.status_code == 400
    assert error_of(bad)["fields"][0]["field"] == "type"


def test_projects_paginate_with_opaque_cursor(client: httpx.Client) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"workspace_id": "ws_sandbox", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/projects", params=params).json()
        pages += 1
        seen += [p["project_id"] for p in page["projects"]]
        assert page["meta"]["total_estimate"] == 24
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
        assert len(page["projects"]) == 7
    assert pages == 4 and len(seen) == len(set(seen)) == 24
    assert seen[0] == "prj_sandbox"


def test_projects_query_and_errors(client: httpx.Client) -> None:
    found = client.get("/projects", params={"workspace_id": "ws_sandbox", "query": "MUG"}).json()
    assert [p["name"] for p in found["projects"]] == ["Ceramic mug launch"]
    missing = client.get("/projects")
    assert missing.status_code == 400
    assert error_of(missing)["fields"] == [{"field": "workspace_id", "message": "Required"}]
    for params, field in (
        ({"workspace_id": "ws_sandbox", "limit": "0"}, "limit"),
        ({"workspace_id": "ws_sandbox", "limit": "101"}, "limit"),
        ({"workspace_id": "ws_sandbox", "cursor": "%%%"}, "cursor"),
        ({"workspace_id": "prj_x"}, "workspace_id"),
    ):
        response = client.get("/projects", params=params)
        assert response.status_code == 400, params
        assert [f["field"] for f in error_of(response)["fields"]] == [field]
    unknown = client.get("/projects", params={"workspace_id": "ws_nobody"})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"prompt": ...}, {"prompt": "Required"}),
        ({"prompt": ""}, {"prompt": "String must contain at least 1 character(s)"}),
        ({"prompt": 42}, {"prompt": "Expected string, received number"}),
        ({"type": "t2i"}, {"type": None}),
        ({"type": ..., "workspace_id": ...}, {"type": "Required", "workspace_id": "Required"}),
        ({"extra": 1}, {"extra": "Unrecognized key"}),
        ({"callback_url": "https://x"}, {"callback_url": "Unrecognized key"}),
        ({"params": [1]}, {"params": "Expected object, received array"}),
        ({"params": None}, {"params": "Expected object, received null"}),
        ({"model": None}, {"model": "Expected string, received null"}),
        ({"model": 3}, {"model": "Expected string, received number"}),
        ({"workspace_id": "abc123"}, {"workspace_id": None}),
        ({"project_id": "proj_1"}, {"project_id": None}),
        ({"project_id": "prj_ spaced"}, {"project_id": None}),
        ({"model": "t2i-nope"}, {"model": None}),
        ({"model": "t2v-kling-2-1"}, {"model": None}),
        ({"params": {"num_images": 9}}, {"params.num_images": None}),
        ({"params": {"aspect_ratio": "2:1"}}, {"params.aspect_ratio": None}),
    ],
)
def test_validation_names_each_field(
    client: httpx.Client, sandbox: RunningSandbox, changes: dict[str, Any], fields: dict[str, Any]
) -> None:
    response = client.post("/runs/generation", json=body(sandbox, **changes))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "input_validation_error"
    got = {f["field"]: f["message"] for f in error["fields"]}
    assert set(got) == set(fields)
    for name, message in fields.items():
        if message is not None:
            assert got[name] == message
        assert f"{name}: " in error["message"]
    assert sandbox.state.runs == {}


def test_single_missing_field_message_is_exact(
    client: httpx.Client, sandbox: RunningSandbox
) -> None:
    response = client.post("/generate", json=body(sandbox, prompt=...))
    assert error_of(response) == {
        "code": "input_validation_error",
        "message": "prompt: Required",
        "fields": [{"field": "prompt", "message": "Required"}],
    }


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"a": NaN}', b"\xff\xfe"])
def test_non_json_body_is_invalid_json(client: httpx.Client, raw: bytes) -> None:
    response = client.post(
        "/runs/generation", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_non_object_body(client: httpx.Client) -> None:
    response = client.post("/runs/generation", json=["image"])
    assert response.status_code == 400
    assert error_of(response)["fields"] == [
        {"field": "body", "message": "Expected object, received array"}
    ]


def test_unknown_workspace_or_project_is_404(client: httpx.Client, sandbox: RunningSandbox) -> None:
    for changes in ({"workspace_id": "ws_other"}, {"project_id": "prj_other"},
                    {"workspace_id": "ws_broke"}):  # prj_sandbox is not in ws_broke
        response = client.post("/runs/generation", json=body(sandbox, **changes))
        assert response.status_code == 404, changes
        assert error_of(response)["code"] == "not_found"


def test_run_id_path_rules(client: httpx.Client) -> None:
    bad = client.get("/runs/abc123")
    assert bad.status_code == 400
    assert error_of(bad)["fields"][0]["field"] == "run_id"
    unknown = client.get("/runs/run_doesnotexist")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"


def test_unknown_route_and_method_use_the_envelope(client: httpx.Client) -> None:
    for response, status in (
        (client.get("/nowhere"), 404),
        (client.get("/api/v1/runs/generation/extra"), 404),
        (client.delete("/workspaces"), 405),
        (client.get("/runs/generation/x"), 404),
        (httpx.get(str(client.base_url).replace("/api/v1", "/")), 404),
    ):
        assert response.status_code == status
        error_of(response)
        assert response.headers["request-id"].startswith("req_")
    assert "GET" in client.put("/models").headers["allow"]


# ----------------------------------------------------------------------------- runs


def test_create_response_shape(client: httpx.Client, sandbox: RunningSandbox) -> None:
    for path in ("/runs/generation", "/generate"):
        response = client.post(path, json=body(sandbox, model="t2i-imagen-4"))
        assert response.status_code == 201
        doc = response.json()
        assert doc["run_id"].startswith("run_") and doc["type"] == "generation"
        assert doc["model"] == {"model_id": "t2i-imagen-4"}
        assert doc["charged_cost"] == 0.03 and isinstance(doc["estimated_seconds"], int)
        assert doc["project_id"] == sandbox.project_id
        assert doc["poll_url"] == f"{sandbox.base_url}/runs/{doc['run_id']}"
        assert response.headers["request-id"].startswith("req_")


def test_run_lifecycle_pending_running_completed(
    make_sandbox: Callable[..., RunningSandbox],
) -> None:
    box = make_sandbox(speed=8)  # image model: 8 s / 8 = 1 s, pending for the first 0.1 s
    headers = {"Authorization": f"Bearer {box.api_key}"}
    with httpx.Client(base_url=box.base_url, headers=headers) as c:
        run_id = c.post("/runs/generation", json=body(box)).json()["run_id"]
        first = c.get(f"/runs/{run_id}").json()
        assert first["status"] == "pending" and first["progress"] == 0
        assert "started_at" not in first and "outputs" not in first
        assert isinstance(first["created_at"], float) and abs(first["created_at"] - time.time()) < 5
        running = wait_for(c, run_id, "running")
        assert 0 <= running["progress"] < 100 and running["started_at"] >= running["created_at"]
        progress = [running["progress"]]
        done = wait_for(c, run_id, "completed")
        progress.append(done["progress"])
        assert progress == sorted(progress) and done["progress"] == 100
        assert done["completed_at"] >= done["started_at"]
        assert [o["type"] for o in done["outputs"]] == ["imageUrl"]
        assert "error_code" not in done


def test_num_images_gives_outputs_and_cost(client: httpx.Client, sandbox: RunningSandbox) -> None:
    created = client.post("/runs/generation", json=body(sandbox, params={"num_images": 3}))
    assert created.json()["charged_cost"] == pytest.approx(0.12)
    done = wait_for(client, created.json()["run_id"], "completed")
    assert [o["output_id"] for o in done["outputs"]] == ["output_1", "output_2", "output_3"]


def test_text_output_carries_the_text_in_url(client: httpx.Client, sandbox: RunningSandbox) -> None:
    created = client.post("/generate", json=body(sandbox, type="text", prompt="a haiku"))
    done = wait_for(client, created.json()["run_id"], "completed")
    (output,) = done["outputs"]
    assert output["type"] == "text" and "a haiku" in output["url"]
    assert not output["url"].startswith("http")


@pytest.mark.parametrize(
    ("prompt", "code"),
    [("a mug [fail:safety_blocked]", "safety_blocked"), ("[fail] a mug", "provider_error"),
     ("[fail:my_custom_code] x", "my_custom_code")],
)
def test_fail_marker_fails_the_run_and_refunds(
    client: httpx.Client, sandbox: RunningSandbox, prompt: str, code: str
) -> None:
    before = sandbox.state.remaining_usd(sandbox.workspace_id)
    created = client.post("/runs/generation", json=body(sandbox, prompt=prompt)).json()
    assert created["charged_cost"] == 0.04
    assert sandbox.state.remaining_usd(sandbox.workspace_id) == pytest.approx(before - 0.04)
    failed = wait_for(client, created["run_id"], "failed")
    assert failed["error_code"] == code and code in failed["error_message"]
    assert "outputs" not in failed and failed["charged_cost"] == 0
    assert 0 < failed["progress"] < 100
    assert sandbox.state.remaining_usd(sandbox.workspace_id) == pytest.approx(before)


def test_fail_marker_is_deterministic_over_statuses(
    client: httpx.Client, sandbox: RunningSandbox
) -> None:
    created = client.post("/runs/generation", json=body(sandbox, prompt="[fail:timeout]")).json()
    statuses: list[Any] = []
    while not statuses or statuses[-1] not in ("completed", "failed"):
        statuses.append(client.get(f"/runs/{created['run_id']}").json()["status"])
        time.sleep(0.005)
    assert statuses[-1] == "failed" and "completed" not in statuses


# ----------------------------------------------------------------------------- budgets


def test_insufficient_credits_is_402(client: httpx.Client, sandbox: RunningSandbox) -> None:
    response = client.post(
        "/runs/generation", json=body(sandbox, workspace_id="ws_broke", project_id="prj_broke")
    )
    assert response.status_code == 402
    assert error_of(response)["code"] == "insufficient_credits"
    assert sandbox.state.runs == {}


def test_budget_runs_out_and_refunds_free_it() -> None:
    """The budget rule on the sandbox's own state and clock: 833 runs at $1.20 fit in $1000,
    the 834th is 402, and failed runs give their money back once the clock passes their end."""
    from flora_cli.sandbox.config import SandboxConfig
    from flora_cli.sandbox.defaults import (
        SANDBOX_API_KEY,
        SANDBOX_PROJECT_ID,
        SANDBOX_WORKSPACE_ID,
    )
    from flora_cli.sandbox.errors import ApiError
    from flora_cli.sandbox.models import GenerationRequest
    from flora_cli.sandbox.state import SandboxState

    now = [1_000_000.0]
    state = SandboxState(SandboxConfig(speed=1.0), clock=lambda: now[0])

    def create(prompt: str) -> int:
        doc = {"type": "video", "workspace_id": SANDBOX_WORKSPACE_ID,
               "project_id": SANDBOX_PROJECT_ID, "model": "t2v-veo-3", "prompt": prompt}
        try:
            result = state.create_run(
                api_key=SANDBOX_API_KEY, idempotency_key=None, path="/api/v1/generate",
                body=doc, request=GenerationRequest.model_validate(doc),
                origin="http://127.0.0.1:1", request_id="req_test")
        except ApiError as error:
            return error.status
        return result.status

    statuses = [create(f"v{i}") for i in range(834)]  # $1.20 a run, budget $1000: 833 fit
    assert statuses.count(201) == 833 and statuses[-1] == 402
    assert create("[fail] x") == 402

    state.reset()
    assert all(create(f"[fail] {i}") == 201 for i in range(833))
    assert create("ok") == 402  # nothing refunded while the failing runs are still going
    now[0] += 3600  # every run has failed: their cost is refunded
    assert create("ok") == 201


# ----------------------------------------------------------------------------- idempotency


def test_idempotency_spec_mode_409(client: httpx.Client, sandbox: RunningSandbox) -> None:
    first = client.post("/runs/generation", json=body(sandbox), headers={"Idempotency-Key": "k"})
    again = client.post("/runs/generation", json=body(sandbox), headers={"Idempotency-Key": "k"})
    assert first.status_code == 201 and again.status_code == 409
    assert error_of(again)["code"] == "idempotency_duplicate"
    assert len(sandbox.state.runs) == 1
    # Per API key: another key may use the same idempotency key.
    other = client.post(
        "/runs/generation",
        json=body(sandbox),
        headers={"Idempotency-Key": "k", "Authorization": "Bearer sk_test_other"},
    )
    assert other.status_code == 201 and len(sandbox.state.runs) == 2


def test_rejected_request_does_not_claim_the_key(
    client: httpx.Client, sandbox: RunningSandbox
) -> None:
    bad = client.post("/generate", json=body(sandbox, prompt=""), headers={"Idempotency-Key": "z"})
    good = client.post("/generate", json=body(sandbox), headers={"Idempotency-Key": "z"})
    assert bad.status_code == 400 and good.status_code == 201


def test_idempotency_replay_mode(make_sandbox: Callable[..., RunningSandbox]) -> None:
    box = make_sandbox(idempotency="replay")
    headers = {"Authorization": f"Bearer {box.api_key}", "Idempotency-Key": "key-1"}
    with httpx.Client(base_url=box.base_url, headers=headers) as c:
        first = c.post("/runs/generation", json=body(box))
        # Same body, other key order and spacing: still the same after JSON normalisation.
        reordered = dict(reversed(list(body(box).items())))
        replay = c.post("/runs/generation", json=reordered)
        assert replay.status_code == 201 and replay.content == first.content
        assert replay.headers["request-id"] == first.headers["request-id"]
        assert replay.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        conflict = c.post("/runs/generation", json=body(box, prompt="another"))
        assert conflict.status_code == 422
        assert error_of(conflict)["code"] == "idempotency_conflict"
        other_route = c.post("/generate", json=body(box))
        assert other_route.status_code == 422
        assert len(box.state.runs) == 1


def test_idempotency_keys_expire_after_two_hours(sandbox: RunningSandbox) -> None:
    from flora_cli.sandbox.models import GenerationRequest
    from flora_cli.sandbox.state import IDEMPOTENCY_TTL_SECONDS, SandboxState

    now = [1000.0]
    state = SandboxState(monotonic=lambda: now[0])
    doc = body(sandbox)

    def create() -> int:
        return state.create_run(
            api_key="sk_test_a", idempotency_key="k", path="/generate", body=doc,
            request=GenerationRequest.model_validate(doc), origin="http://x", request_id="req_1",
        ).status

    from flora_cli.sandbox.errors import ApiError

    assert create() == 201
    now[0] += IDEMPOTENCY_TTL_SECONDS - 1
    with pytest.raises(ApiError) as info:
        create()
    assert info.value.status == 409
    now[0] += 2
    assert create() == 201


# ----------------------------------------------------------------------------- request ids


def test_request_id_on_every_response(client: httpx.Client, sandbox: RunningSandbox) -> None:
    responses = [
        client.get("/workspaces"),
        client.post("/generate", json=body(sandbox)),
        client.post("/generate", content=b"{"),
        client.get("/runs/run_x"),
        client.get("/nope"),
    ]
    ids = [r.headers["request-id"] for r in responses]
    assert all(i.startswith("req_") for i in ids) and len(set(ids)) == len(ids)

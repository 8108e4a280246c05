"""Property-based conformance: the sandbox answers as `openapi-runs.yml` and
`openapi-generations.yml` say (schemathesis against the ASGI app, faults off).

Checks: no 5xx, every response body matches its declared schema, declared status codes and
content types. Only the operations the sandbox implements are exercised (POST /runs/action
and POST /runs/technique are excluded). Generated bodies that are otherwise valid get the
seeded workspace/project IDs some of the time, so the 201 path is exercised too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flora_cli.sandbox.app import create_app
from flora_cli.sandbox.config import SandboxConfig
from flora_cli.sandbox.defaults import SANDBOX_API_KEY, SANDBOX_PROJECT_ID, SANDBOX_WORKSPACE_ID
from flora_cli.sandbox.server import RunningSandbox

#: The published schema, vendored so the test runs on any checkout; `test_contract_copy_is_current`
#: compares it with the project's shared copy when that is beside the repository.
API_DIR = Path(__file__).resolve().parent / "contract"
SHARED_API_DIR = Path(__file__).resolve().parents[2] / "shared" / "api"
RUNS_YML = API_DIR / "openapi-runs.yml"
GENERATIONS_YML = API_DIR / "openapi-generations.yml"


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
HEADERS = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


def _load(path: Path) -> Any:
    schema = schemathesis.openapi.from_dict(yaml.safe_load(path.read_text()))
    # speed: runs complete at once; no faults (the default config has none).
    schema.app = create_app(SandboxConfig(speed=1e6))
    return schema


@pytest.mark.parametrize("name", ["openapi-runs.yml", "openapi-generations.yml"])
def test_contract_copy_is_current(name: str) -> None:
    shared = SHARED_API_DIR / name
    if not shared.exists():
        pytest.skip(f"no shared copy at {shared}")
    assert (API_DIR / name).read_bytes() == shared.read_bytes(), (
        f"tests/contract/{name} differs from {shared}: copy the shared one over"
    )


runs_schema = _load(RUNS_YML).exclude(path_regex=r"^/runs/(action|technique)$")
generations_schema = _load(GENERATIONS_YML)


def _steer(case: Any) -> None:
    """Point half of the otherwise-valid create bodies at seeded IDs (else all 404)."""
    body = case.body
    if isinstance(body, dict) and "workspace_id" in body and "project_id" in body:
        prompt = body.get("prompt")
        if isinstance(body["workspace_id"], str) and isinstance(prompt, str) and len(prompt) % 2:
            body["workspace_id"] = SANDBOX_WORKSPACE_ID
            body["project_id"] = SANDBOX_PROJECT_ID
            if isinstance(body.get("model"), str):
                body.pop("model")


@runs_schema.parametrize()  # type: ignore[untyped-decorator,unused-ignore]
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_runs_api_conforms(case: Any) -> None:
    _steer(case)
    case.call_and_validate(headers=HEADERS, checks=CHECKS)


@generations_schema.parametrize()  # type: ignore[untyped-decorator,unused-ignore]
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_generations_api_conforms(case: Any) -> None:
    _steer(case)
    case.call_and_validate(headers=HEADERS, checks=CHECKS)


def _operation(schema: Any, path: str, method: str) -> Any:
    return schema[path][method]


@pytest.mark.parametrize("media_type", ["image", "video", "audio", "text"])
def test_created_and_completed_runs_match_the_schema(
    make_sandbox: Callable[..., RunningSandbox], media_type: str
) -> None:
    """Directly: a 201 and a completed (or failed) run validate against the declared schemas
    (with `text_output="url"`; see the next test for the default)."""
    sandbox = make_sandbox(text_output="url")
    create_op = _operation(runs_schema, "/runs/generation", "POST")
    get_op = _operation(runs_schema, "/runs/{runId}", "GET")
    with httpx.Client(base_url=sandbox.base_url, headers=HEADERS) as c:
        for prompt in ("a lighthouse at dawn", "[fail:safety_blocked] nope"):
            created = c.post(
                "/runs/generation",
                json={"type": media_type, "prompt": prompt, "workspace_id": sandbox.workspace_id,
                      "project_id": sandbox.project_id},
            )
            assert created.status_code == 201
            create_op.validate_response(created)
            run_id = created.json()["run_id"]
            deadline = time.monotonic() + 5
            while True:
                got = c.get(f"/runs/{run_id}")
                get_op.validate_response(got)
                if got.json()["status"] in ("completed", "failed"):
                    break
                assert time.monotonic() < deadline
                time.sleep(0.05)


def test_inline_text_output_breaks_the_uri_format(sandbox: RunningSandbox) -> None:
    """The default `text_output="inline"` does what the real API does (TS-SDK: "URL or text
    content") and so breaks the schema's `format: uri` (with `url` mode, the same run
    conforms: test_created_and_completed_runs_match_the_schema[text])."""
    get_op = _operation(runs_schema, "/runs/{runId}", "GET")
    with httpx.Client(base_url=sandbox.base_url, headers=HEADERS) as c:
        run_id = c.post(
            "/generate",
            json={"type": "text", "prompt": "a haiku", "workspace_id": sandbox.workspace_id,
                  "project_id": sandbox.project_id},
        ).json()["run_id"]
        deadline = time.monotonic() + 5
        while (got := c.get(f"/runs/{run_id}")).json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    with pytest.raises(Exception, match='is not a "uri"'):
        get_op.validate_response(got)
    (output,) = got.json()["outputs"]
    assert output["type"] == "text" and "a haiku" in output["url"]


def test_url_text_output_is_a_text_file(make_sandbox: Callable[..., RunningSandbox]) -> None:
    box = make_sandbox(text_output="url")
    with httpx.Client(base_url=box.base_url, headers=HEADERS) as c:
        run_id = c.post(
            "/generate",
            json={"type": "text", "prompt": "a haiku", "workspace_id": box.workspace_id,
                  "project_id": box.project_id},
        ).json()["run_id"]
        deadline = time.monotonic() + 5
        while (got := c.get(f"/runs/{run_id}")).json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        url = got.json()["outputs"][0]["url"]
        assert url.endswith("/output_1.txt")
        text = httpx.get(url)
    assert text.headers["content-type"].startswith("text/plain")
    assert "a haiku" in text.text

"""The sandbox's in-memory state and its rules: runs, budgets, idempotency, rate limits.

One `SandboxState` per server; every public method takes the lock, so the app (on uvicorn's
event-loop thread) and a test (on its own thread) can both use it. Runs need no background
task: a run's status, progress and outputs are computed from the clock when it is read.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flora_cli.modelcheck import output_count
from flora_cli.sandbox.config import SandboxConfig
from flora_cli.sandbox.defaults import API_PREFIX
from flora_cli.sandbox.errors import ApiError
from flora_cli.sandbox.media import OUTPUT_KIND, text_output
from flora_cli.sandbox.models import (
    GenerationRequest,
    MediaType,
    ModelRef,
    Run,
    RunCreated,
    RunOutput,
)
from flora_cli.sandbox.seed import (
    MODEL_DOCS,
    MODELS_BY_ID,
    PROJECTS,
    WORKSPACES,
    SeedModel,
    default_model,
)
from flora_cli.sandbox.validation import normalise, resolve_model, validate_params

#: How long an idempotency key is remembered (two hours).
IDEMPOTENCY_TTL_SECONDS = 2 * 60 * 60
RATE_WINDOW_SECONDS = 60.0

#: Share of a run's duration spent `pending`; a failing run fails at FAIL_AT of its duration.
PENDING_SHARE = 0.1
FAIL_AT = 0.6

#: `[fail]` or `[fail:CODE]` in a prompt makes the run fail with CODE (default provider_error).
FAIL_MARKER = re.compile(r"\[fail(?::([a-z_]+))?\]")
DEFAULT_FAIL_CODE = "provider_error"
FAIL_MESSAGES: dict[str, str] = {
    "provider_error": "The provider failed to complete the generation.",
    "safety_blocked": "The prompt or the output was blocked by the safety filter.",
    "timeout": "The generation did not finish in time.",
    "invalid_params": "The model rejected the parameters.",
}


def fail_message(code: str) -> str:
    known = FAIL_MESSAGES.get(code)
    if known:
        return f"{known} (sandbox: the prompt asked for [fail:{code}])"
    return f"The run failed with {code} (sandbox: the prompt asked for [fail:{code}])."


@dataclass
class RunRecord:
    run_id: str
    media_type: MediaType
    prompt: str
    model_id: str
    workspace_id: str
    project_id: str
    created_at: float
    duration: float
    cost: float
    output_count: int
    fail_code: str | None
    refunded: bool = False

    @property
    def started_at(self) -> float:
        return self.created_at + PENDING_SHARE * self.duration

    @property
    def ended_at(self) -> float:
        share = FAIL_AT if self.fail_code else 1.0
        return self.created_at + share * self.duration

    def status_at(self, now: float) -> str:
        if now >= self.ended_at:
            return "failed" if self.fail_code else "completed"
        if now >= self.started_at:
            return "running"
        return "pending"

    def progress_at(self, now: float) -> float:
        start, end = self.started_at, self.created_at + self.duration
        if now < start:
            return 0.0
        clamped = min(now, self.ended_at)
        if end <= start:
            return 100.0
        return round(min(100.0, 100.0 * (clamped - start) / (end - start)), 1)


@dataclass
class StoredResponse:
    """What idempotency remembers: the exact response of the request that created a run."""

    fingerprint: str
    status: int
    body: bytes
    request_id: str
    expires_at: float


@dataclass
class CreateResult:
    status: int
    body: bytes
    request_id: str
    replayed: bool = False
    run_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class SandboxState:
    """All mutable state of one sandbox, behind one lock."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or SandboxConfig()
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every run, charge, key and rate window; re-seed the random streams."""
        with self._lock:
            seed = self.config.seed
            self.fault_rng = random.Random(seed)
            self._id_rng = random.Random(None if seed is None else seed ^ 0x5A5A5A5A)
            self.runs: dict[str, RunRecord] = {}
            self.spent: dict[str, float] = {ws.info.workspace_id: 0.0 for ws in WORKSPACES}
            self._refunds: list[tuple[float, str]] = []
            self._idempotency: OrderedDict[tuple[str, str], StoredResponse] = OrderedDict()
            self._windows: dict[str, deque[float]] = {}
            self.request_count = 0

    # ------------------------------------------------------------------ ids and randomness

    def new_request_id(self) -> str:
        with self._lock:
            self.request_count += 1
            return f"req_{self._id_rng.getrandbits(96):024x}"

    def _new_run_id(self) -> str:
        return f"run_{self._id_rng.getrandbits(64):016x}"

    def roll(self, probability: float) -> bool:
        """One draw of the seeded fault stream (no draw at all when probability is 0)."""
        if probability <= 0:
            return False
        with self._lock:
            return self.fault_rng.random() < probability

    def pick_fault_status(self) -> int:
        with self._lock:
            return self.fault_rng.choice((500, 502, 503))

    # ------------------------------------------------------------------ budgets

    def _settle(self, now: float) -> None:
        """Refund every failed run whose failure time has passed."""
        while self._refunds and self._refunds[0][0] <= now:
            _, run_id = heapq.heappop(self._refunds)
            run = self.runs[run_id]
            if not run.refunded:
                run.refunded = True
                self.spent[run.workspace_id] -= run.cost

    def remaining_usd(self, workspace_id: str) -> float:
        """The workspace's budget minus what its runs cost (failed runs are refunded)."""
        with self._lock:
            self._settle(self._clock())
            budget = next(w.budget_usd for w in WORKSPACES if w.info.workspace_id == workspace_id)
            return round(budget - self.spent[workspace_id], 6)

    # ------------------------------------------------------------------ rate limit

    def check_rate(self, workspace_id: str) -> None:
        """Count one request against the workspace; 429 with `retry-after` when over the limit."""
        limit = self.config.rate_limit
        if limit is None:
            return
        with self._lock:
            now = self._monotonic()
            window = self._windows.setdefault(workspace_id, deque())
            while window and window[0] <= now - RATE_WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                wait = max(1, math.ceil(window[0] + RATE_WINDOW_SECONDS - now))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"Rate limit exceeded: {limit} requests per minute for workspace "
                    f"{workspace_id}. Retry after {wait} s.",
                    headers={"retry-after": str(wait)},
                )
            window.append(now)

    # ------------------------------------------------------------------ runs

    def create_run(
        self,
        *,
        api_key: str,
        idempotency_key: str | None,
        path: str,
        body: Any,
        request: GenerationRequest | ApiError,
        origin: str,
        request_id: str,
    ) -> CreateResult:
        """Everything POST /runs/generation does after auth and JSON parsing, atomically.

        `request` is the validated body, or the validation error to raise once idempotency
        has had its say (a replay with a different, invalid body is still a conflict).
        """
        with self._lock:
            now_mono = self._monotonic()
            scope_key = (api_key, idempotency_key) if idempotency_key is not None else None
            fingerprint = f"{path}\n{normalise(body)}"
            if scope_key is not None:
                self._expire_keys(now_mono)
                stored = self._idempotency.get(scope_key)
                if stored is not None:
                    if self.config.idempotency == "spec":
                        raise ApiError(
                            409,
                            "idempotency_duplicate",
                            "Duplicate idempotency key: a request with this Idempotency-Key "
                            "already started a run.",
                        )
                    if stored.fingerprint != fingerprint:
                        raise ApiError(
                            422,
                            "idempotency_conflict",
                            "This Idempotency-Key was used with a different request.",
                        )
                    return CreateResult(
                        status=stored.status,
                        body=stored.body,
                        request_id=stored.request_id,
                        replayed=True,
                        headers={"idempotent-replayed": "true"},
                    )
            if isinstance(request, ApiError):
                raise request
            self.check_rate(request.workspace_id)
            project = self._find_project(request.workspace_id, request.project_id)
            model = self._resolve_model(request)
            params = request.params or {}
            validate_params(params, MODEL_DOCS[model.model_id])
            outputs = output_count(MODEL_DOCS[model.model_id], params)
            cost = round(model.cost_usd * outputs, 6)
            now = self._clock()
            self._settle(now)
            budget = next(
                w.budget_usd for w in WORKSPACES if w.info.workspace_id == request.workspace_id
            )
            remaining = budget - self.spent[request.workspace_id]
            if cost > remaining + 1e-9:
                raise ApiError(
                    402,
                    "insufficient_credits",
                    f"Insufficient credits: this run costs {_usd(cost)} and workspace "
                    f"{request.workspace_id} has {_usd(max(remaining, 0.0))} left.",
                )
            match = FAIL_MARKER.search(request.prompt)
            fail_code = (match.group(1) or DEFAULT_FAIL_CODE) if match else None
            run = RunRecord(
                run_id=self._new_run_id(),
                media_type=request.type,
                prompt=request.prompt,
                model_id=model.model_id,
                workspace_id=request.workspace_id,
                project_id=project,
                created_at=now,
                duration=model.info.estimated_seconds / self.config.speed,
                cost=cost,
                output_count=outputs,
                fail_code=fail_code,
            )
            self.runs[run.run_id] = run
            self.spent[run.workspace_id] += cost
            if fail_code:
                heapq.heappush(self._refunds, (run.ended_at, run.run_id))
            created = RunCreated(
                run_id=run.run_id,
                type="generation",
                estimated_seconds=math.ceil(run.duration),
                charged_cost=cost,
                model=ModelRef(model_id=model.model_id),
                poll_url=f"{origin}{API_PREFIX}/runs/{run.run_id}",
                project_id=run.project_id,
            )
            body_bytes = _dumps(created.model_dump(exclude_none=True))
            if scope_key is not None:
                self._idempotency[scope_key] = StoredResponse(
                    fingerprint=fingerprint,
                    status=201,
                    body=body_bytes,
                    request_id=request_id,
                    expires_at=now_mono + IDEMPOTENCY_TTL_SECONDS,
                )
            return CreateResult(
                status=201, body=body_bytes, request_id=request_id, run_id=run.run_id
            )

    def _expire_keys(self, now_mono: float) -> None:
        # Insertion order is expiry order (one TTL for all), so stop at the first live key.
        while self._idempotency:
            first = next(iter(self._idempotency.values()))
            if first.expires_at > now_mono:
                break
            self._idempotency.popitem(last=False)

    def _find_project(self, workspace_id: str, project_id: str) -> str:
        if not any(w.info.workspace_id == workspace_id for w in WORKSPACES):
            raise ApiError(404, "not_found", f"Workspace {workspace_id} not found.")
        for project in PROJECTS:
            if project.project_id == project_id and project.workspace_id == workspace_id:
                return project.project_id
        raise ApiError(
            404, "not_found", f"Project {project_id} not found in workspace {workspace_id}."
        )

    def _resolve_model(self, request: GenerationRequest) -> SeedModel:
        if request.model is None:
            return default_model(request.type)
        resolve_model(list(MODEL_DOCS.values()), request.model, request.type)
        return MODELS_BY_ID[request.model]

    def get_run(self, run_id: str, origin: str) -> Run:
        """The run document of GET /runs/{run_id} at this instant; 404 when unknown."""
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                raise ApiError(404, "not_found", f"Run {run_id} not found.")
            now = self._clock()
            self._settle(now)
            status = run.status_at(now)
            doc: dict[str, Any] = {
                "run_id": run.run_id,
                "status": status,
                "progress": 100.0 if status == "completed" else run.progress_at(now),
                "created_at": run.created_at,
                "charged_cost": 0.0 if run.refunded else run.cost,
                "poll_url": f"{origin}{API_PREFIX}/runs/{run.run_id}",
            }
            if status != "pending":
                doc["started_at"] = run.started_at
            if status in ("completed", "failed"):
                doc["completed_at"] = run.ended_at
            if status == "failed":
                code = run.fail_code or DEFAULT_FAIL_CODE
                doc["error_code"] = code
                doc["error_message"] = fail_message(code)
            if status == "completed":
                doc["outputs"] = [self._output(run, i, origin) for i in range(run.output_count)]
            return Run.model_validate(doc)

    def _output(self, run: RunRecord, index: int, origin: str) -> RunOutput:
        extension, _, output_type = OUTPUT_KIND[run.media_type]
        output_id = f"output_{index + 1}"
        if run.media_type == "text" and self.config.text_output == "inline":
            # Like the real API, a text output carries the text itself in `url`.
            url = text_output(run.prompt, index)
        else:
            url = f"{origin}{API_PREFIX}/files/{run.run_id}/{output_id}.{extension}"
        return RunOutput.model_validate({"output_id": output_id, "type": output_type, "url": url})

    def output_file(self, run_id: str, filename: str) -> tuple[MediaType, str, int]:
        """(media type, prompt, index) of a completed run's output file; 404 otherwise."""
        with self._lock:
            run = self.runs.get(run_id)
            if run is not None and run.status_at(self._clock()) == "completed":
                extension = OUTPUT_KIND[run.media_type][0]
                for index in range(run.output_count):
                    if filename == f"output_{index + 1}.{extension}":
                        return run.media_type, run.prompt, index
            raise ApiError(404, "not_found", f"Output {filename} of run {run_id} not found.")


def _usd(amount: float) -> str:
    text = f"{amount:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()

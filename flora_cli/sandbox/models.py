"""The wire contract of FLORA's API as pydantic models, as the OpenAPI files state it.

The sandbox serves and validates with them, and the tests check the CLI's request bodies
against them (tests/test_parity.py). Requests are strict (`extra="forbid"`, as the API's closed
body schema); responses are parsed leniently (`extra="allow"`): an unknown field is kept. The
CLI itself does not use them: it prints response bodies as received, so no field is ever lost,
and it never pays for importing pydantic.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MediaType = Literal["image", "video", "audio", "text"]
RunStatus = Literal["pending", "running", "completed", "failed"]
OutputType = Literal["imageUrl", "videoUrl", "audioUrl", "text", "documentUrl"]
RunId = Annotated[str, StringConstraints(pattern=r"^run_\S+$")]
ProjectId = Annotated[str, StringConstraints(pattern=r"^prj_\S+$")]
WorkspaceId = Annotated[str, StringConstraints(pattern=r"^ws_\S+$")]

RUN_ID_PATTERN = r"^run_\S+$"
PROJECT_ID_PATTERN = r"^prj_\S+$"
WORKSPACE_ID_PATTERN = r"^ws_\S+$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class GenerationRequest(_Request):
    """Body of POST /runs/generation and POST /generate (closed schema)."""

    type: MediaType
    prompt: Annotated[str, StringConstraints(min_length=1)]
    workspace_id: str
    project_id: str
    model: str | None = None
    params: dict[str, Any] | None = None

    def to_body(self) -> dict[str, Any]:
        """The JSON body: exactly the fields given (model/params omitted, never null)."""
        return self.model_dump(exclude_none=True)


class ModelRef(_Response):
    model_id: Annotated[str, StringConstraints(min_length=1)]


class TechniqueRef(_Response):
    technique_id: str
    name: str


class ActionRef(_Response):
    action_id: str


class RunCreated(_Response):
    """201 of POST /runs/generation and POST /generate."""

    run_id: RunId
    type: Literal["generation", "technique", "action"]
    estimated_seconds: Annotated[int, Field(ge=0)] | None
    charged_cost: Annotated[float, Field(ge=0)]
    model: ModelRef | None = None
    technique: TechniqueRef | None = None
    action: ActionRef | None = None
    poll_url: str | None = None
    project_id: ProjectId | None = None


class RunOutput(_Response):
    output_id: str
    type: OutputType
    url: str


class Run(_Response):
    """200 of GET /runs/{run_id}."""

    run_id: RunId
    status: RunStatus
    progress: float
    created_at: float
    started_at: float | None = None
    completed_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    charged_cost: Annotated[float, Field(ge=0)] | None = None
    outputs: list[RunOutput] | None = None
    poll_url: str | None = None


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str
    message: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    message: str
    fields: list[FieldError] | None = None


class ErrorEnvelope(BaseModel):
    """The API's error envelope: `{"error": {"code", "message", "fields"?}}`."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorBody

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ParamOption(_Response):
    label: str
    value: Any
    description: str | None = None


class ParamRange(_Response):
    min: float
    max: float
    default: float


class ModelParam(_Response):
    name: str
    type: Literal["string", "string[]", "bool", "int", "int?", "seed", "float", "dict"]
    required: bool
    default: Any = None
    min: float | None = None
    max: float | None = None
    label: str | None = None
    description: str | None = None
    options: list[ParamOption] | None = None
    properties: dict[str, ParamRange] | None = None


class ModelInfo(_Response):
    model_id: Annotated[str, StringConstraints(min_length=1)]
    name: str
    type: MediaType
    provider: str
    capabilities: list[str]
    estimated_credits: Annotated[int, Field(ge=0)]
    estimated_seconds: Annotated[int, Field(ge=0)]
    params: list[ModelParam]
    beta: bool | None = None


class ModelList(_Response):
    models: list[ModelInfo]


class Workspace(_Response):
    workspace_id: WorkspaceId
    name: str
    created_at: int | None
    role: str


class WorkspaceList(_Response):
    workspaces: list[Workspace]


class Project(_Response):
    project_id: ProjectId
    name: str
    workspace_id: WorkspaceId
    origin: str | None
    last_modified: float | None
    created_at: float


class PageMeta(_Response):
    next_cursor: str | None
    total_estimate: Annotated[int, Field(ge=0)] | None = None


class ProjectList(_Response):
    projects: list[Project]
    meta: PageMeta

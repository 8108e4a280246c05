"""The sandbox's seeded data: workspaces (with USD budgets), projects and models.

Models carry parameter descriptions shaped like GET /models of the real API, a nominal
`estimated_seconds`, and a USD cost per output that the sandbox charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flora_cli.sandbox.defaults import (
    SANDBOX_BROKE_PROJECT_ID,
    SANDBOX_BROKE_WORKSPACE_ID,
    SANDBOX_PROJECT_ID,
    SANDBOX_WORKSPACE_ID,
)
from flora_cli.sandbox.models import MediaType, ModelInfo, ModelParam, Project, Workspace

#: 2026-01-01T00:00:00Z: seeded timestamps are fixed so listings are stable.
_EPOCH = 1_767_225_600


@dataclass(frozen=True)
class SeedWorkspace:
    info: Workspace
    budget_usd: float


@dataclass(frozen=True)
class SeedModel:
    info: ModelInfo
    cost_usd: float  # per output

    @property
    def model_id(self) -> str:
        return self.info.model_id

    @property
    def type(self) -> MediaType:
        return self.info.type


WORKSPACES: tuple[SeedWorkspace, ...] = (
    SeedWorkspace(
        Workspace(
            workspace_id=SANDBOX_WORKSPACE_ID,
            name="Sandbox",
            created_at=_EPOCH,
            role="owner",
        ),
        budget_usd=1000.0,
    ),
    SeedWorkspace(
        Workspace(
            workspace_id=SANDBOX_BROKE_WORKSPACE_ID,
            name="Sandbox (out of credits)",
            created_at=_EPOCH + 86_400,
            role="owner",
        ),
        budget_usd=0.005,
    ),
)

_PROJECT_NAMES = (
    "Ceramic mug launch",
    "Spring lookbook",
    "Podcast intro",
    "Product explainer",
    "Brand moodboard",
    "Packaging concepts",
    "Social teasers",
    "Store window",
    "Newsletter headers",
    "Voice-over drafts",
    "Trailer storyboard",
    "Recipe cards",
    "App store screenshots",
    "Event posters",
    "Jingle ideas",
    "Holiday campaign",
    "Lookbook retouch",
    "Logo explorations",
    "Interior renders",
    "Copy variants",
    "Sound effects",
    "Character sheets",
    "Sneaker drop",
)


def _projects() -> tuple[Project, ...]:
    # Ordered by recent activity (most recent first), as GET /projects is.
    items = [
        Project(
            project_id=SANDBOX_PROJECT_ID,
            name="Sandbox demo",
            workspace_id=SANDBOX_WORKSPACE_ID,
            origin="api",
            last_modified=float(_EPOCH + 30 * 86_400),
            created_at=float(_EPOCH),
        )
    ]
    for number, name in enumerate(_PROJECT_NAMES, start=2):
        items.append(
            Project(
                project_id=f"prj_sandbox_{number:02d}",
                name=name,
                workspace_id=SANDBOX_WORKSPACE_ID,
                origin="api" if number % 3 else None,
                last_modified=float(_EPOCH + (30 - number) * 86_400) if number % 5 else None,
                created_at=float(_EPOCH + number * 3_600),
            )
        )
    items.append(
        Project(
            project_id=SANDBOX_BROKE_PROJECT_ID,
            name="Out-of-credits demo",
            workspace_id=SANDBOX_BROKE_WORKSPACE_ID,
            origin="api",
            last_modified=float(_EPOCH + 86_400),
            created_at=float(_EPOCH + 86_400),
        )
    )
    return tuple(items)


PROJECTS: tuple[Project, ...] = _projects()

#: Page size of GET /projects when `limit` is not given (the API does not state one).
DEFAULT_PROJECT_LIMIT = 20


def _p(name: str, type_: str, **kw: Any) -> ModelParam:
    return ModelParam.model_validate({"name": name, "type": type_, "required": False, **kw})


_ASPECT = _p(
    "aspect_ratio",
    "string",
    default="1:1",
    label="Aspect ratio",
    options=[{"label": r, "value": r} for r in ("1:1", "16:9", "9:16", "4:3", "3:4")],
)
_SEED = _p("seed", "seed", label="Seed", description="Same seed, same result.")
_NUM_IMAGES = _p(
    "num_images",
    "int",
    default=1,
    min=1,
    max=4,
    label="Number of images",
    description="Each image is one output and is charged separately.",
)
_NEGATIVE = _p("negative_prompt", "string", label="Negative prompt", description="What to avoid.")


def _model(
    model_id: str,
    name: str,
    type_: MediaType,
    provider: str,
    capabilities: list[str],
    seconds: int,
    cost_usd: float,
    params: list[ModelParam],
    beta: bool | None = None,
) -> SeedModel:
    info = ModelInfo(
        model_id=model_id,
        name=name,
        type=type_,
        provider=provider,
        capabilities=capabilities,
        estimated_credits=round(cost_usd * 100),
        estimated_seconds=seconds,
        params=params,
        beta=beta,
    )
    return SeedModel(info=info, cost_usd=cost_usd)


#: Models per type; the first of each type is the workspace default when `model` is omitted.
MODELS: tuple[SeedModel, ...] = (
    _model(
        "t2i-flux-2-pro",
        "FLUX.2 [pro]",
        "image",
        "Black Forest Labs",
        ["text-to-image"],
        8,
        0.04,
        [
            _ASPECT,
            _NUM_IMAGES,
            _SEED,
            _p(
                "output_format",
                "string",
                default="png",
                options=[
                    {"label": "PNG", "value": "png"},
                    {"label": "JPEG", "value": "jpeg", "description": "Smaller files."},
                ],
            ),
            _p("safety_tolerance", "int", default=2, min=1, max=6, label="Safety tolerance"),
            _p(
                "image_size",
                "dict",
                label="Custom size",
                description="Overrides aspect_ratio.",
                properties={
                    "width": {"min": 256, "max": 2048, "default": 1024},
                    "height": {"min": 256, "max": 2048, "default": 1024},
                },
            ),
        ],
    ),
    _model(
        "t2i-imagen-4",
        "Imagen 4",
        "image",
        "Google",
        ["text-to-image"],
        10,
        0.03,
        [_ASPECT, _NUM_IMAGES, _NEGATIVE, _SEED],
    ),
    _model(
        "i2i-flux-kontext",
        "FLUX.1 Kontext",
        "image",
        "Black Forest Labs",
        ["image-to-image", "text-to-image"],
        9,
        0.04,
        [
            _p("image_urls", "string[]", label="Reference images", description="Image URLs."),
            _p("guidance_scale", "float", default=3.5, min=1, max=20, label="Guidance"),
            _p("steps", "int?", min=1, max=50, label="Steps", description="Null: model default."),
            _SEED,
        ],
        beta=True,
    ),
    _model(
        "t2v-kling-2-1",
        "Kling 2.1",
        "video",
        "Kuaishou",
        ["text-to-video"],
        60,
        0.5,
        [
            _p(
                "duration",
                "int",
                default=5,
                label="Duration (s)",
                options=[{"label": "5 s", "value": 5}, {"label": "10 s", "value": 10}],
            ),
            _ASPECT,
            _NEGATIVE,
            _p("cfg_scale", "float", default=0.5, min=0, max=1, label="Prompt adherence"),
        ],
    ),
    _model(
        "t2v-veo-3",
        "Veo 3",
        "video",
        "Google",
        ["text-to-video", "audio"],
        90,
        1.2,
        [
            _p("generate_audio", "bool", default=True, label="Generate audio"),
            _p(
                "resolution",
                "string",
                default="720p",
                options=[{"label": "720p", "value": "720p"}, {"label": "1080p", "value": "1080p"}],
            ),
            _SEED,
        ],
    ),
    _model(
        "tts-eleven-v3",
        "Eleven v3",
        "audio",
        "ElevenLabs",
        ["text-to-speech"],
        6,
        0.02,
        [
            _p(
                "voice",
                "string",
                default="Rachel",
                options=[{"label": v, "value": v} for v in ("Rachel", "Adam", "Bella", "Josh")],
            ),
            _p("stability", "float", default=0.5, min=0, max=1, label="Stability"),
            _p("speed", "float", default=1.0, min=0.7, max=1.2, label="Speed"),
        ],
    ),
    _model(
        "t2a-stable-audio-2",
        "Stable Audio 2",
        "audio",
        "Stability AI",
        ["text-to-audio", "music"],
        12,
        0.05,
        [
            _p("duration_seconds", "float", default=10, min=1, max=47, label="Duration (s)"),
            _p("steps", "int", default=8, min=4, max=100, label="Steps"),
            _SEED,
        ],
    ),
    _model(
        "llm-gpt-5-mini",
        "GPT-5 mini",
        "text",
        "OpenAI",
        ["text-generation"],
        3,
        0.01,
        [
            _p("max_tokens", "int", default=512, min=1, max=4096, label="Max tokens"),
            _p("temperature", "float", default=1.0, min=0, max=2, label="Temperature"),
            _p("system_prompt", "string", label="System prompt"),
        ],
    ),
    _model(
        "llm-claude-sonnet-4-5",
        "Claude Sonnet 4.5",
        "text",
        "Anthropic",
        ["text-generation"],
        4,
        0.02,
        [
            _p("max_tokens", "int", default=1024, min=1, max=8192, label="Max tokens"),
            _p("temperature", "float", default=1.0, min=0, max=1, label="Temperature"),
            _p("stop", "string[]", label="Stop sequences"),
        ],
    ),
)

MODELS_BY_ID: dict[str, SeedModel] = {m.model_id: m for m in MODELS}
#: Each model as GET /models serves it (plain JSON): what the shared pre-spend check reads.
MODEL_DOCS: dict[str, dict[str, Any]] = {
    m.model_id: m.info.model_dump(mode="json", exclude_none=True) for m in MODELS
}


def default_model(media_type: MediaType) -> SeedModel:
    """The model used when a request names none: the first seeded model of its type."""
    return next(m for m in MODELS if m.type == media_type)

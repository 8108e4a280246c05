"""`SandboxConfig`: every knob of the sandbox (standard library only, cheap to import)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from flora_cli.sandbox.defaults import EMBEDDED_DEFAULT_SPEED, SANDBOX_SPEED_ENV

IdempotencyMode = Literal["spec", "replay"]
IDEMPOTENCY_MODES: tuple[IdempotencyMode, ...] = ("spec", "replay")
TextOutputMode = Literal["inline", "url"]
TEXT_OUTPUT_MODES: tuple[TextOutputMode, ...] = ("inline", "url")


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox behaves. The defaults are a well-behaved API in real time.

    - `speed`: runs take the model's `estimated_seconds` divided by `speed` (> 0).
    - `idempotency`: `"spec"` (a reused `Idempotency-Key` is 409 `idempotency_duplicate`) or
      `"replay"` (same body: the original response again with `idempotent-replayed: true`;
      different body: 422 `idempotency_conflict`).
    - `rate_limit`: requests per minute per workspace (creates and project listings); None is off.
    - `error_rate`: probability (0-1) that a request gets a random 500/502/503 before it does
      anything.
    - `latency_ms`: delay added to every request, in milliseconds.
    - `drop_rate`: probability (0-1) that a successful create (the run exists) has its
      connection closed without a response.
    - `seed`: seeds the fault decisions and the generated IDs; None is unseeded.
    - `text_output`: `"inline"` (like the real API: a text output's `url` holds the text
      itself, which breaks the schema's `format: uri`) or `"url"` (a URL of a `.txt` file:
      schema-conformant).
    """

    speed: float = 1.0
    idempotency: IdempotencyMode = "spec"
    rate_limit: int | None = None
    error_rate: float = 0.0
    latency_ms: float = 0.0
    drop_rate: float = 0.0
    seed: int | None = None
    text_output: TextOutputMode = "inline"
    #: Limits for a server people leave running: bodies over this get 413 unread; a client
    #: without its request headers after `header_timeout` s is dropped; at most
    #: `max_connections` connections are open (the oldest slow-header one is evicted).
    max_body_bytes: int = 1024 * 1024
    header_timeout: float = 10.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.max_connections < 1:
            raise ValueError("max_body_bytes and max_connections must be >= 1")
        if not (math.isfinite(self.header_timeout) and self.header_timeout > 0):
            raise ValueError(f"header_timeout must be > 0, not {self.header_timeout!r}")
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ValueError(f"speed must be a finite number > 0, not {self.speed!r}")
        if self.idempotency not in IDEMPOTENCY_MODES:
            raise ValueError(f"idempotency must be 'spec' or 'replay', not {self.idempotency!r}")
        if self.text_output not in TEXT_OUTPUT_MODES:
            raise ValueError(f"text_output must be 'inline' or 'url', not {self.text_output!r}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(f"rate_limit must be >= 1 (None: no limit), not {self.rate_limit}")
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value!r}")
        if not (math.isfinite(self.latency_ms) and self.latency_ms >= 0):
            raise ValueError(f"latency_ms must be >= 0, not {self.latency_ms!r}")

    @classmethod
    def embedded(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """The config of the in-process sandbox of `flora --sandbox`.

        Speed comes from `FLORA_SANDBOX_SPEED` (default 4); an unusable value raises ValueError
        naming the variable.
        """
        env = os.environ if environ is None else environ
        raw = env.get(SANDBOX_SPEED_ENV, "").strip()
        if not raw:
            return cls(speed=EMBEDDED_DEFAULT_SPEED)
        try:
            speed = float(raw)
            return cls(speed=speed)
        except ValueError:
            raise ValueError(
                f"{SANDBOX_SPEED_ENV} must be a number > 0 (e.g. 4), not {raw!r}"
            ) from None

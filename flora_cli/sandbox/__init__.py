"""The FLORA sandbox: a faithful local FLORA API (Starlette served by uvicorn).

This package module is cheap to import: it exposes only constants and the config dataclass
(standard library). The Starlette app lives in `flora_cli.sandbox.app`, the uvicorn runner in
`flora_cli.sandbox.server` (`serve_in_thread`); import those where they are needed.
"""

from __future__ import annotations

from flora_cli.sandbox.config import SandboxConfig
from flora_cli.sandbox.defaults import (
    SANDBOX_API_KEY,
    SANDBOX_BROKE_WORKSPACE_ID,
    SANDBOX_PROJECT_ID,
    SANDBOX_SPEED_ENV,
    SANDBOX_WORKSPACE_ID,
)

__all__ = [
    "SANDBOX_API_KEY",
    "SANDBOX_BROKE_WORKSPACE_ID",
    "SANDBOX_PROJECT_ID",
    "SANDBOX_SPEED_ENV",
    "SANDBOX_WORKSPACE_ID",
    "SandboxConfig",
]

"""Cheap constants of the sandbox (no imports): the built-in key and the seeded IDs."""

from __future__ import annotations

#: The built-in key of `--sandbox`. The sandbox accepts any key that starts with `sk_test_`.
SANDBOX_API_KEY = "sk_test_flora_sandbox"

#: The seeded workspace with a comfortable USD budget, and its default project.
SANDBOX_WORKSPACE_ID = "ws_sandbox"
SANDBOX_PROJECT_ID = "prj_sandbox"

#: A seeded workspace with almost no budget: every run there is 402 `insufficient_credits`.
SANDBOX_BROKE_WORKSPACE_ID = "ws_broke"
SANDBOX_BROKE_PROJECT_ID = "prj_broke"

#: Environment variable read by the embedded sandbox (`flora --sandbox …`) for its speed.
SANDBOX_SPEED_ENV = "FLORA_SANDBOX_SPEED"
#: Speed of the embedded sandbox when the variable is unset: an 8 s image run takes 2 s.
EMBEDDED_DEFAULT_SPEED = 4.0

#: The API root path the sandbox serves under.
API_PREFIX = "/api/v1"

"""The flags and the wire model agree: every request field has a flag and vice versa."""

from __future__ import annotations

import json

import click
import pytest

from flora_cli.cli import cli
from flora_cli.cli.generation import BODY_FLAGS
from flora_cli.sandbox.models import GenerationRequest
from tests.cli_helpers import run


def _command(path: list[str]) -> click.Command:
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", [["runs", "start-generation"], ["generations", "create"]])
def test_every_body_field_has_its_flags(path: list[str]) -> None:
    assert set(BODY_FLAGS) == set(GenerationRequest.model_fields)
    opts = {o for p in _command(path).params for o in p.opts}
    for spec in BODY_FLAGS.values():
        for flag in spec.flags:
            assert flag in opts, f"{flag} missing on {' '.join(path)}"


def test_the_two_commands_share_their_flags() -> None:
    a = {o for p in _command(["runs", "start-generation"]).params for o in p.opts}
    b = {o for p in _command(["generations", "create"]).params for o in p.opts}
    assert a == b


@pytest.mark.parametrize("extra", [[], ["--model", "m-1"], ["--param", "seed=4"],
                                   ["--params", '{"a": {"b": [1]}}', "--model", "x"]])
def test_cli_bodies_validate_against_the_strict_wire_model(extra: list[str]) -> None:
    out = run(["--json", "runs", "start-generation", "--dry-run", "--project-id", "prj_1",
               "--workspace-id", "ws_1", "--type", "Video", "--prompt", "p", *extra])
    assert out.exit_code == 0, out.stderr
    body = out.json()["body"]
    model = GenerationRequest.model_validate_json(json.dumps(body))
    assert model.to_body() == body  # nothing null, nothing missing

"""The pre-spend check (flora_cli.modelcheck): every param type of SPEC §11, as a table."""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flora_cli import modelcheck as mc
from flora_cli.sandbox.seed import MODEL_DOCS


def _param(name: str, type_: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "required": False, **kw}


MODEL: dict[str, Any] = {
    "model_id": "x-every-type",
    "name": "Every type",
    "type": "image",
    "provider": "Tests",
    "capabilities": ["text-to-image"],
    "estimated_credits": 4,
    "estimated_seconds": 8,
    "params": [
        _param("style", "string"),
        _param("ratio", "string", options=[{"label": "square", "value": "1:1"},
                                           {"label": "wide", "value": "16:9"}]),
        _param("urls", "string[]"),
        _param("hdr", "bool"),
        _param("num_images", "int", min=1, max=4, default=1),
        _param("duration", "int", options=[{"label": "5 s", "value": 5},
                                           {"label": "10 s", "value": 10}]),
        _param("steps", "int?", min=1, max=50),
        _param("seed", "seed"),
        _param("guidance", "float", min=1, max=20),
        _param("size", "dict", properties={"width": {"min": 256, "max": 2048, "default": 1024},
                                           "height": {"min": 256, "max": 2048,
                                                      "default": 1024}}),
        _param("extra", "dict"),
        _param("voice", "string", required=True, options=[{"label": "A", "value": "Adam"},
                                                          {"label": "B", "value": "Bella"}]),
    ],
}
OK = {"voice": "Adam"}

# (param, value, expected issue kind or None, words the message must hold)
TABLE: list[tuple[str, Any, str | None, str]] = [
    # string
    ("style", "flat", None, ""),
    ("style", "", None, ""),
    ("style", 123, "type", "accepts a string"),
    ("style", None, "type", "accepts a string"),
    ("ratio", "16:9", None, ""),
    ("ratio", "2:1", "option", "accepts 1:1 or 16:9"),
    # string[]
    ("urls", ["a", "b"], None, ""),
    ("urls", [], None, ""),
    ("urls", "a", "type", "JSON array of strings"),
    ("urls", ["a", 1], "type", "JSON array of strings"),
    # bool
    ("hdr", True, None, ""),
    ("hdr", False, None, ""),
    ("hdr", "true", "type", "accepts true or false"),
    ("hdr", 1, "type", "accepts true or false"),
    # int
    ("num_images", 1, None, ""),
    ("num_images", 4, None, ""),
    ("num_images", 2.0, None, ""),
    ("num_images", 0, "range", "an integer from 1 to 4"),
    ("num_images", 5, "range", "an integer from 1 to 4"),
    ("num_images", 2.5, "type", "an integer from 1 to 4"),
    ("num_images", True, "type", "an integer"),
    ("num_images", "2", "type", "an integer"),
    ("duration", 5, None, ""),
    ("duration", 10, None, ""),
    ("duration", 7, "option", "accepts 5 or 10"),
    ("duration", "5", "type", "accepts 5 or 10"),
    # int?
    ("steps", None, None, ""),
    ("steps", 50, None, ""),
    ("steps", 51, "range", "an integer from 1 to 50, or null"),
    ("steps", "x", "type", "or null"),
    # seed
    ("seed", 42, None, ""),
    ("seed", 0, None, ""),
    ("seed", 4.5, "type", "an integer seed"),
    ("seed", "42", "type", "an integer seed"),
    # float
    ("guidance", 3.5, None, ""),
    ("guidance", 20, None, ""),
    ("guidance", 0.5, "range", "a number from 1 to 20"),
    ("guidance", 20.01, "range", "a number from 1 to 20"),
    ("guidance", False, "type", "a number"),
    ("guidance", "3", "type", "a number"),
    # dict
    ("size", {"width": 512, "height": 512}, None, ""),
    ("size", {}, None, ""),
    ("size", {"width": 100}, "range", "width (256 to 2048)"),
    ("size", {"width": "big"}, "range", "width (256 to 2048)"),
    ("size", {"depth": 3}, "type", "height (256 to 2048)"),
    ("size", [1, 2], "type", "a JSON object"),
    ("extra", {"anything": [1]}, None, ""),
    ("extra", "x", "type", "a JSON object"),
]


@pytest.mark.parametrize(("name", "value", "kind", "words"), TABLE,
                         ids=[f"{t[0]}={t[1]!r}" for t in TABLE])
def test_every_param_type(name: str, value: Any, kind: str | None, words: str) -> None:
    issues = mc.check_params({**OK, name: value}, MODEL)
    if kind is None:
        assert issues == []
        return
    assert [i.kind for i in issues] == [kind]
    issue = issues[0]
    assert issue.name == name and issue.field == f"params.{name}"
    text = issue.describe()
    assert text.startswith("x-every-type accepts "), text
    assert words in text, text
    assert f"received {json.dumps(value)}" in issue.api_message()


def test_the_table_covers_every_type_of_the_api() -> None:
    types = {p["type"] for p in MODEL["params"] if any(t[0] == p["name"] for t in TABLE)}
    assert types == set(mc.PARAM_TYPES)


def test_issue_words_match_the_issue() -> None:
    [issue] = mc.check_params({"duration": 7}, MODEL_DOCS["t2v-kling-2-1"])
    assert issue.describe() == "t2v-kling-2-1 accepts 5 or 10"


def test_unknown_names_get_the_closest_ones() -> None:
    [issue] = mc.check_params({**OK, "num_image": 2}, MODEL)
    assert issue.kind == "unknown_param"
    assert issue.suggestions == ("num_images",)
    assert "has no parameter num_image; did you mean num_images?" in issue.describe()
    [far] = mc.check_params({**OK, "zzz": 1}, MODEL)
    assert far.suggestions == () and "did you mean" not in far.describe()
    assert "style, ratio, urls" in far.describe()  # lists what it takes


def test_a_required_param_missing() -> None:
    [issue] = mc.check_params({}, MODEL)
    assert issue.kind == "required" and issue.name == "voice"
    assert issue.describe() == "x-every-type requires voice: Adam or Bella"


def test_several_issues_are_all_reported() -> None:
    issues = mc.check_params({"num_images": 9, "hdr": "yes", "nope": 1}, MODEL)
    assert [i.kind for i in issues] == ["range", "type", "unknown_param", "required"]


MODELS = list(MODEL_DOCS.values())


def test_unknown_model_with_did_you_mean() -> None:
    model, [issue] = mc.check_request(MODELS, "t2i-flux-pro", "image", {})
    assert model is None and issue.kind == "unknown_model"
    assert issue.suggestions[0] == "t2i-flux-2-pro"
    assert issue.describe().startswith("no model t2i-flux-pro; did you mean t2i-flux-2-pro")
    assert "flora models list --type image" in issue.describe()


def test_model_of_another_type() -> None:
    model, [issue] = mc.check_request(MODELS, "t2v-kling-2-1", "image", {"duration": 7})
    assert model is not None and issue.kind == "model_type"
    assert issue.describe().startswith("t2v-kling-2-1 makes video, not --type image")
    assert "t2i-flux-2-pro" in issue.describe()


def test_a_good_request_has_no_issue() -> None:
    assert mc.check_request(MODELS, "t2v-kling-2-1", "video", {"duration": 10})[1] == []
    assert mc.check_request(MODELS, "t2v-kling-2-1", None, {"duration": 10})[1] == []


def test_estimate_scales_credits_by_num_images() -> None:
    flux = MODEL_DOCS["t2i-flux-2-pro"]
    assert mc.estimate(flux, {}) == {"model_id": "t2i-flux-2-pro", "credits": 4, "seconds": 8}
    assert mc.estimate(flux, {"num_images": 3})["credits"] == 12
    kling = MODEL_DOCS["t2v-kling-2-1"]
    assert mc.estimate(kling, {"num_images": 3})["credits"] == 50  # no num_images param


# --- the schema of GET /models ----------------------------------------------------------------


def test_the_sandbox_models_follow_the_schema() -> None:
    assert len(mc.parse_model_list({"models": MODELS})) == len(MODELS)


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = {"models": copy.deepcopy(MODELS)}
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "where"), [
    (["models"], None, "models"),
    (["models", 0], "x", "models[0]"),
    (["models", 0, "model_id"], "", "models[0].model_id"),
    (["models", 1, "type"], "t2i", "models[1].type"),
    (["models", 0, "estimated_credits"], -1, "models[0].estimated_credits"),
    (["models", 0, "estimated_seconds"], 1.5, "models[0].estimated_seconds"),
    (["models", 0, "params"], KeyError, "models[0].params"),
    (["models", 0, "params", 0, "type"], "number", "models[0].params[0].type"),
    (["models", 0, "params", 0, "required"], "no", "models[0].params[0].required"),
    (["models", 0, "params", 0, "options"], [{"value": 1}], "models[0].params[0].options[0]"),
    (["models", 0, "capabilities"], [1], "models[0].capabilities"),
])
def test_a_broken_model_list_names_where(path: list[Any], value: Any, where: str) -> None:
    with pytest.raises(mc.ModelListError) as info:
        mc.parse_model_list(_broken(path, value))
    assert str(info.value).startswith(where + ":")


def test_unknown_fields_are_kept() -> None:
    doc = {"models": [{**MODELS[0], "future": 1}]}
    assert mc.parse_model_list(doc)[0]["future"] == 1


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10))
def test_any_value_gives_issues_never_an_exception(value: Any) -> None:
    for spec in MODEL["params"]:
        issues = mc.check_params({**OK, spec["name"]: value}, MODEL)
        assert all(i.describe() for i in issues)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12))
def test_parse_model_list_fails_only_with_its_own_error(doc: Any) -> None:
    with contextlib.suppress(mc.ModelListError):
        mc.parse_model_list(doc)


def test_modelcheck_imports_the_standard_library_only() -> None:
    code = ("import sys; import flora_cli.modelcheck; "
            "print(sorted(m.split('.')[0] for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = set(eval(out))
    assert not loaded & {"click", "httpx", "pydantic", "rich", "starlette", "yaml"}

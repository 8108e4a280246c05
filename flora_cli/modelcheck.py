"""The pre-spend check: a model's params, checked before a paid request is sent.

One implementation, used by the CLI (`runs start-generation`, `generations create`, and per row
by batches) and by the sandbox's own validation of `params`. It works on the JSON documents of
GET /models exactly as received (plain dicts), so it needs nothing but the standard library:
the start path and shell completion never load pydantic for it.

    models = parse_model_list(document)          # ModelListError when it breaks the schema
    model, issues = find_model(models, "t2v-kling-2-1", "video")
    issues += check_params({"duration": 7}, model)
    issues[0].describe()  # 't2v-kling-2-1 accepts 5 or 10'
    estimate(model, params)  # {"model_id": …, "credits": …, "seconds": …}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

MEDIA_TYPES = ("image", "video", "audio", "text")
#: The API's param types (GET /models → models[].params[].type).
PARAM_TYPES = ("string", "string[]", "bool", "int", "int?", "seed", "float", "dict")

Model = dict[str, Any]


class ModelListError(ValueError):
    """A GET /models document that breaks the API's schema; the message names where."""


# --------------------------------------------------------------------------- the schema


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return _is_number(value) and (isinstance(value, int) or (
        math.isfinite(value) and float(value).is_integer()))


def _need(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise ModelListError(f"{where}: expected {what}")


def _check_param(spec: Any, where: str) -> None:
    _need(isinstance(spec, dict), where, "an object")
    _need(isinstance(spec.get("name"), str) and bool(spec["name"]), f"{where}.name",
          "a non-empty string")
    _need(spec.get("type") in PARAM_TYPES, f"{where}.type", "one of " + ", ".join(PARAM_TYPES))
    _need(isinstance(spec.get("required"), bool), f"{where}.required", "a boolean")
    for key in ("min", "max"):
        if spec.get(key) is not None:
            _need(_is_number(spec[key]), f"{where}.{key}", "a number")
    for key in ("label", "description"):
        if spec.get(key) is not None:
            _need(isinstance(spec[key], str), f"{where}.{key}", "a string")
    options = spec.get("options")
    if options is not None:
        _need(isinstance(options, list), f"{where}.options", "an array")
        for j, option in enumerate(options):
            _need(isinstance(option, dict) and isinstance(option.get("label"), str)
                  and "value" in option, f"{where}.options[{j}]", "{label, value}")
    properties = spec.get("properties")
    if properties is not None:
        _need(isinstance(properties, dict), f"{where}.properties", "an object")
        for key, bounds in properties.items():
            _need(isinstance(bounds, dict) and all(_is_number(bounds.get(k))
                                                   for k in ("min", "max", "default")),
                  f"{where}.properties.{key}", "{min, max, default} numbers")


def parse_model_list(document: Any) -> list[Model]:
    """The `models` of a GET /models body, checked against the API's schema (unknown fields
    are kept). Raises `ModelListError` naming the first place that breaks it."""
    _need(isinstance(document, dict), "body", "an object")
    models = document.get("models")
    _need(isinstance(models, list), "models", "an array")
    for i, model in enumerate(models):
        where = f"models[{i}]"
        _need(isinstance(model, dict), where, "an object")
        _need(isinstance(model.get("model_id"), str) and bool(model["model_id"]),
              f"{where}.model_id", "a non-empty string")
        for key in ("name", "provider"):
            _need(isinstance(model.get(key), str), f"{where}.{key}", "a string")
        _need(model.get("type") in MEDIA_TYPES, f"{where}.type", "one of " +
              ", ".join(MEDIA_TYPES))
        caps = model.get("capabilities")
        _need(isinstance(caps, list) and all(isinstance(c, str) for c in caps),
              f"{where}.capabilities", "an array of strings")
        for key in ("estimated_credits", "estimated_seconds"):
            value = model.get(key)
            _need(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                  f"{where}.{key}", "an integer >= 0")
        if model.get("beta") is not None:
            _need(isinstance(model["beta"], bool), f"{where}.beta", "a boolean")
        params = model.get("params")
        _need(isinstance(params, list), f"{where}.params", "an array")
        for j, spec in enumerate(params):
            _check_param(spec, f"{where}.params[{j}]")
    return list(models)


# --------------------------------------------------------------------------- words


def shown(value: Any) -> str:
    """A value as a person types it: strings bare, the rest as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # pragma: no cover - params come from JSON
        return repr(value)


def _num(value: float) -> str:
    return f"{value:g}"


def _either(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _bounds(spec: Mapping[str, Any]) -> str:
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None:
        return f" from {_num(low)} to {_num(high)}"
    if low is not None:
        return f" of at least {_num(low)}"
    if high is not None:
        return f" of at most {_num(high)}"
    return ""


def allowed(spec: Mapping[str, Any]) -> str:
    """What a param accepts, in words: `5 or 10`, `an integer from 1 to 4`, `true or false`."""
    options = spec.get("options")
    if options:
        return _either([shown(option.get("value")) for option in options])
    kind = spec.get("type")
    if kind == "string":
        return "a string"
    if kind == "string[]":
        return 'a JSON array of strings (e.g. ["a","b"])'
    if kind == "bool":
        return "true or false"
    if kind == "int":
        return "an integer" + _bounds(spec)
    if kind == "int?":
        return "an integer" + _bounds(spec) + ", or null"
    if kind == "seed":
        return "an integer seed" + _bounds(spec)
    if kind == "float":
        return "a number" + _bounds(spec)
    if kind == "dict":
        properties = spec.get("properties") or {}
        if properties:
            inner = ", ".join(f"{key} ({_num(b['min'])} to {_num(b['max'])})"
                              for key, b in properties.items())
            return f"a JSON object with {inner}"
        return "a JSON object"
    return "a value"  # pragma: no cover - parse_model_list admits only PARAM_TYPES


def closest(word: str, candidates: Sequence[str], n: int = 3) -> list[str]:
    """The candidates closest to `word` (difflib), best first."""
    import difflib  # only when something is wrong: not on the start path

    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[f] for f in found]


# --------------------------------------------------------------------------- issues


class Issue:
    """One reason the request would be refused.

    kind: `unknown_model`, `model_type` (a model of another media type), `unknown_param`,
    `required`, `type`, `option`, `range`. `name` is the param name (or `model`).
    (A plain class, not a dataclass: a TAB imports this module, and a dataclass costs
    milliseconds to build.)
    """

    __slots__ = ("allowed", "kind", "model_id", "name", "suggestions", "value")

    def __init__(self, kind: str, name: str, model_id: str, value: Any = None,
                 allowed: str = "", suggestions: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.name = name
        self.model_id = model_id
        self.value = value
        self.allowed = allowed
        self.suggestions = suggestions

    def __repr__(self) -> str:
        return (f"Issue({self.kind!r}, {self.name!r}, {self.model_id!r}, {self.value!r}, "
                f"{self.allowed!r}, {self.suggestions!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Issue) and all(
            getattr(self, slot) == getattr(other, slot) for slot in Issue.__slots__)

    __hash__ = None  # type: ignore[assignment]

    @property
    def field(self) -> str:
        """The API's field name: `model` or `params.NAME`."""
        return "model" if self.kind in ("unknown_model", "model_type") else f"params.{self.name}"

    def _did_you_mean(self) -> str:
        if not self.suggestions:
            return ""
        return "; did you mean " + _either(list(self.suggestions)) + "?"

    def describe(self) -> str:
        """The reason, naming the model and what is allowed (no flag name)."""
        if self.kind == "unknown_model":
            return f"no model {self.model_id}{self._did_you_mean()} ({self.allowed})"
        if self.kind == "model_type":
            return f"{self.model_id} makes {self.value}, not {self.allowed}"
        if self.kind == "unknown_param":
            return (f"{self.model_id} has no parameter {self.name}{self._did_you_mean()} "
                    f"(it takes {self.allowed})")
        if self.kind == "required":
            return f"{self.model_id} requires {self.name}: {self.allowed}"
        return f"{self.model_id} accepts {self.allowed}"

    def api_message(self) -> str:
        """The message the sandbox puts in its 400 `fields[]`."""
        if self.kind in ("type", "option", "range"):
            return f"{self.describe()} (received {json.dumps(self.value, ensure_ascii=False)})"
        return self.describe()


def _value_issue(value: Any, spec: Mapping[str, Any]) -> str | None:
    """`type`, `option` or `range` when `value` breaks `spec`, else None."""
    kind = spec.get("type")
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "string[]":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind in ("int", "seed"):
        ok = _is_int(value)
    elif kind == "int?":
        ok = value is None or _is_int(value)
    elif kind == "float":
        ok = _is_number(value) and math.isfinite(value)
    elif kind == "dict":
        ok = isinstance(value, dict)
        if ok:
            properties = spec.get("properties") or {}
            for key, item in value.items():
                bounds = properties.get(key)
                if properties and bounds is None:
                    return "type"
                if bounds is not None and (not _is_number(item)
                                           or not bounds["min"] <= item <= bounds["max"]):
                    return "range"
    else:  # pragma: no cover - parse_model_list admits only PARAM_TYPES
        ok = True
    if not ok:
        return "type"
    options = spec.get("options")
    if options:
        if not any(_same(value, option.get("value")) for option in options):
            return "option"
        return None
    if _is_number(value):
        if spec.get("min") is not None and value < spec["min"]:
            return "range"
        if spec.get("max") is not None and value > spec["max"]:
            return "range"
    return None


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 5 == 5.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def check_params(params: Mapping[str, Any], model: Mapping[str, Any]) -> list[Issue]:
    """Every issue of `params` against the model's params: unknown names (with the closest
    ones), wrong types, values outside min/max or not among the options, a required one
    missing. Empty when the params would be accepted."""
    model_id = str(model.get("model_id"))
    specs = {spec["name"]: spec for spec in model.get("params") or []}
    issues: list[Issue] = []
    for name, value in params.items():
        spec = specs.get(name)
        if spec is None:
            issues.append(Issue("unknown_param", name, model_id, value,
                                allowed=", ".join(specs) or "no parameters",
                                suggestions=tuple(closest(name, list(specs)))))
            continue
        kind = _value_issue(value, spec)
        if kind is not None:
            issues.append(Issue(kind, name, model_id, value, allowed=allowed(spec)))
    for name, spec in specs.items():
        if spec.get("required") and name not in params:
            issues.append(Issue("required", name, model_id, allowed=allowed(spec)))
    return issues


def find_model(models: Sequence[Mapping[str, Any]], model_id: str,
               media_type: str | None) -> tuple[Mapping[str, Any] | None, list[Issue]]:
    """The model `model_id` in the list, checked against the request's media type."""
    for model in models:
        if model.get("model_id") == model_id:
            if media_type is not None and model.get("type") != media_type:
                same_type = [str(m["model_id"]) for m in models if m.get("type") == media_type]
                hint = f"--type {media_type}" + (
                    f"; {media_type} models: {', '.join(same_type)}" if same_type else "")
                return model, [Issue("model_type", "model", model_id, model.get("type"),
                                     allowed=hint)]
            return model, []
    ids = [str(m.get("model_id")) for m in models
           if media_type is None or m.get("type") == media_type]
    listing = f"flora models list --type {media_type}" if media_type else "flora models list"
    return None, [Issue("unknown_model", "model", model_id, allowed=f"see {listing}",
                        suggestions=tuple(closest(model_id, ids or
                                                  [str(m.get("model_id")) for m in models])))]


def check_request(models: Sequence[Mapping[str, Any]], model_id: str, media_type: str | None,
                  params: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, list[Issue]]:
    """`find_model`, then `check_params` when the model exists and makes `media_type`."""
    model, issues = find_model(models, model_id, media_type)
    if model is not None and not issues:
        issues = check_params(params, model)
    return model, issues


def output_count(model: Mapping[str, Any], params: Mapping[str, Any]) -> int:
    """How many outputs a request makes: `num_images` where the model has it, else 1."""
    for spec in model.get("params") or []:
        if spec.get("name") == "num_images":
            value = params.get("num_images", spec.get("default", 1))
            if _is_int(value) and value >= 1:
                return int(value)
            return 1
    return 1


def estimate(model: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """`{"model_id", "credits", "seconds"}`: credits scaled by `num_images` where the model
    has it; seconds as the model says."""
    return {
        "model_id": model.get("model_id"),
        "credits": int(model.get("estimated_credits") or 0) * output_count(model, params),
        "seconds": model.get("estimated_seconds"),
    }

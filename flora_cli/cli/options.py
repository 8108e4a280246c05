"""Options: click parameters built from `optspec` records, and typed option objects.

- `option(spec, ...)` makes a click option whose help note (`[env: …; default: …]`) comes
  from the spec; the spec stays attached (`param.spec`) for the man page generator.
- Global options are accepted before the command path and on every leaf command. Each stores
  its value in the root context only when it was given on the command line, so
  `flora --json runs …` and `flora runs … --json` are the same and a leaf flag overrides a root
  one. The environment and defaults are applied in `settings.resolve`: flag > environment >
  default.
- `typed(cls)` hands a command its own options as one frozen dataclass instead of `**kwargs`:
  each field is declared once with `field(metadata=opt(spec, type=…))`, which also makes the
  click option, so a renamed flag fails mypy where the command reads it, not a user.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from flora_cli import optspec
from flora_cli.optspec import FORMATS, OptionSpec

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_META_KEY = "flora.global_flags"


class MetaOption(click.Option):
    """A click option that remembers its `OptionSpec`."""

    def __init__(self, *args: Any, spec: OptionSpec, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec


def option(spec: OptionSpec, *, click_env: bool = True, **kwargs: Any) -> Callable[[F], F]:
    """A click option from a spec. `click_env=False` leaves the variable to `settings`."""
    kwargs.setdefault("metavar", spec.metavar)
    if click_env:  # a command's own option: click applies its variable and default
        if spec.env and not kwargs.get("is_flag"):
            kwargs.setdefault("envvar", spec.env)
        if spec.default is not None:
            kwargs.setdefault("default", spec.default)
    return click.option(*spec.flags, spec.dest, cls=MetaOption, spec=spec,
                        help=spec.help_text(), **kwargs)


def spec_of(param: click.Parameter) -> OptionSpec | None:
    return getattr(param, "spec", None)


# -- global options ---------------------------------------------------------------------


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if param.name and ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE:
        given = ctx.find_root().meta.setdefault(_META_KEY, {})
        if param.multiple:  # --header before and after the command: all of them
            value = (*given.get(param.name, ()), *value)
        given[param.name] = value
    return value


def given_flags(ctx: click.Context) -> dict[str, Any]:
    """The global flags given on the command line, in either position."""
    return dict(ctx.find_root().meta.get(_META_KEY, {}))


def _complete_profiles(ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[Any]:
    """`--profile <TAB>`: the profiles of config.toml; nothing, silently, on any problem."""
    from click.shell_completion import CompletionItem

    from flora_cli.config.paths import config_paths
    from flora_cli.config.profiles import load_config

    try:
        names = load_config(config_paths().config).known_profiles()
    except Exception:
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


#: click details of the global options that are not plain strings.
_GLOBAL_CLICK: dict[str, dict[str, Any]] = {
    "format": {"type": click.Choice(FORMATS, case_sensitive=False)},
    "json": {"is_flag": True, "default": None},
    "raw_output": {"is_flag": True, "default": None},
    "debug": {"is_flag": True, "default": None},
    "quiet": {"is_flag": True, "default": None},
    "no_color": {"is_flag": True, "default": None},
    "sandbox": {"is_flag": True, "default": None},
    "profile": {"shell_complete": _complete_profiles},
    "header": {"multiple": True},
    "insecure_http": {"is_flag": True, "default": None},
}


def _global(spec: OptionSpec) -> Callable[[F], F]:
    return option(spec, click_env=False, callback=_store, expose_value=False,
                  **_GLOBAL_CLICK.get(spec.dest, {}))


def global_options(f: F) -> F:
    for spec in reversed(optspec.GLOBAL):
        f = _global(spec)(f)
    return f


# -- typed options ----------------------------------------------------------------------


def opt(spec: OptionSpec, **click_kwargs: Any) -> dict[str, Any]:
    """Field metadata declaring the click option that fills a dataclass field."""
    return {"flora.option": (spec, click_kwargs)}


def _field_options(cls: type[Any]) -> list[Callable[[F], F]]:
    import dataclasses

    decorators = []
    for fld in dataclasses.fields(cls):
        if "flora.option" not in fld.metadata:
            continue  # an argument, declared on the command with click.argument
        spec, click_kwargs = fld.metadata["flora.option"]
        assert spec.dest == fld.name, f"{cls.__name__}.{fld.name} is filled by {spec.dest}"
        decorators.append(option(spec, **click_kwargs))
    return decorators


def build(cls: type[T], values: Mapping[str, Any]) -> T:
    """The typed options of a command from click's keyword arguments (every field, no more)."""
    import dataclasses

    names = {fld.name for fld in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: values[name] for name in names})


def typed(cls: type[T], *, with_globals: bool = True) -> Callable[
        [Callable[[click.Context, T], None]], Callable[..., None]]:
    """Decorate a command callback `f(ctx, opts: cls)`: adds the dataclass's options (then the
    global options) and passes one frozen `cls` built from the parsed values."""

    def decorate(f: Callable[[click.Context, T], None]) -> Callable[..., None]:
        @functools.wraps(f)
        def callback(**values: Any) -> None:
            f(click.get_current_context(), build(cls, values))

        wrapped: Callable[..., None] = callback
        if with_globals:
            wrapped = global_options(wrapped)
        for decorator in reversed(_field_options(cls)):
            wrapped = decorator(wrapped)
        return wrapped

    return decorate

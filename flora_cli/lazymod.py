"""Modules registered to load on first use.

httpx and httpcore import, at their own import, modules that a plain-http request never uses:
certifi (the CA bundle, which pulls in importlib.resources, tempfile, shutil, random, bz2 and
lzma), idna (only for non-ASCII host names) and anyio (only for async clients). `defer()`
registers such a module as a stand-in before httpx loads: `import certifi` then succeeds at once,
and the real module is imported the first time one of its attributes is read (https builds its
SSL context, an IDN host is encoded, an async pool takes a lock). Nothing changes but when the
cost is paid.

The standard library's `importlib.util.LazyLoader` is not used: on Python 3.11 a second
`import certifi` reads the module's `__spec__`, which already runs the module.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

_LOCK = threading.RLock()


class Deferred(types.ModuleType):
    """Stands in for a module not imported yet; any attribute read imports it."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        with _LOCK:
            real = sys.modules.get(name)
            if real is self:
                del sys.modules[name]
                import importlib

                try:
                    real = importlib.import_module(name)
                except BaseException:
                    sys.modules.setdefault(name, self)
                    raise
            elif real is None:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return getattr(real, attr)


def defer(*names: str) -> None:
    """Register each of `names` (top-level modules) as deferred, unless it is already loaded
    or is not installed (then `import name` fails exactly as before)."""
    import importlib.util

    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        module = Deferred(name)
        module.__spec__ = spec
        sys.modules[name] = module


def is_deferred(name: str) -> bool:
    """True while `name` is registered and its code has not run."""
    return isinstance(sys.modules.get(name), Deferred)
